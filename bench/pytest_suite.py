"""A real third-party pytest suite, run serially, with pytest-xdist and with `mesh test`.

The suite is the test suite of `packaging` 24.2, taken from its PyPI source distribution
(pinned by version and sha256): about 27,000 fast, pure-Python, mostly parametrized tests with
deterministic outcomes. See bench/PYTEST_SUITE.md for the measured numbers and the suite's quirks.

What it measures (wall time of the whole command, start-up and collection included):

- serial:      python -m pytest -q -p no:cacheprovider --junitxml=X tests
- xdist -n N:  python -m pytest -n N -q -p no:cacheprovider --junitxml=X tests
- mesh -n N:   python -m mesh test -n N --junitxml X tests -- -p no:cacheprovider

(mesh prints pytest's -q style report itself and its workers' pytest has no terminal reporter,
so -q would parse but change nothing; the tests, plugins and JUnit XML are the same.)

Each command runs from the unpacked sdist (the suite's rootdir) with PYTHONPATH=<sdist>/src, so
the tests import the `packaging` under test and not the copy pytest itself depends on (this
checkout is appended to PYTHONPATH for the mesh runs so `python -m mesh` is this checkout's), and
with PYTHONHASHSEED=0: four parametrized tests in tests/test_metadata.py iterate a set, so their
order (not their ids) changes with the hash seed, and xdist refuses workers that collected in
different orders (--hashseed '' keeps the environment's seed).
Each configuration runs --repeats times (default 3), interleaved in rounds (serial, xdist-2,
mesh-2, serial, ...) so machine noise is spread over all of them, after one untimed
`pytest --collect-only` warm-up (which also writes the bytecode caches, unless
PYTHONDONTWRITEBYTECODE is set: the line "env" of the output says). Reported: median, min and max
wall seconds, median CPU seconds (user+sys of the command and the descendants it waited for),
speedup over serial, and the ratio mesh/xdist at -n 2 (goal: <= 0.9). Then scaling:
xdist and mesh with -n 1, 2, 4 (the -n 2 numbers are reused from the first phase).

Outcome check: every run's JUnit XML is read into {classname::name -> outcome} (passed, failed,
error, skipped, xfailed; pytest writes xfail as <skipped type="pytest.xfail">) and compared with the
first serial run, id by id; the pytest summary line in stdout ("26921 passed, 2 skipped in 27.1s")
is compared too when present, since it is the only place xpassed (non-strict) shows up.

Exit status: 0 when mesh's outcomes match serial in every run and mesh/xdist <= the goal; 1 when
they do not (or mesh is unavailable / failed, or xdist's or the serial runs' outcomes disagree with
the first serial run); 2 on a setup error (download, sha256, missing runner, collection).

Reproduce (from the mesh checkout; downloads ~160 kB into $MESH_BENCH_CACHE or ~/.cache/mesh-bench):

    python -m pip install pytest pytest-xdist pretend==1.0.9
    python bench/pytest_suite.py                      # full run: ~15 min on 2 cores
    python bench/pytest_suite.py --skip-scaling --only serial,xdist --repeats 1
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent

SUITE = "packaging"
VERSION = "24.2"
SDIST = f"{SUITE}-{VERSION}.tar.gz"
SHA256 = "c228a6dc5e932d346bc5739379109d49e8853dd8223571c7c5b55260edc0b97f"
SDIST_URL = f"https://files.pythonhosted.org/packages/source/p/{SUITE}/{SDIST}"
TEST_DEPS = {"pretend": "1.0.9"}  # the suite's only test dependency outside pytest
RUNNER_DEPS = {"serial": ["pytest"], "xdist": ["pytest", "pytest-xdist"], "mesh": ["pytest"]}
SUITE_ARGS = ["tests"]
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider"]
MESH_PYTEST_ARGS = ["-p", "no:cacheprovider"]  # mesh draws its own -q style terminal output
MIN_TESTS = 1000
RATIO_GOAL = 0.9
KINDS = ("serial", "xdist", "mesh")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
TAIL = 1500  # characters of stderr/stdout shown when a run fails


# --------------------------------------------------------------------------------------- setup


def die(message: str) -> NoReturn:
    """A setup error: exit status 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdist(cache: Path) -> Path:
    """The pinned sdist in `cache`, downloaded (pip first, then files.pythonhosted.org) if absent."""
    target = cache / SDIST
    if target.exists() and sha256_of(target) == SHA256:
        return target
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        got = Path(tmp) / SDIST
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               "--disable-pip-version-check", "-q", "-d", tmp, f"{SUITE}=={VERSION}"]
        print(f"downloading {SDIST}: {' '.join(cmd[2:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not got.exists():
            print(f"  pip download failed ({proc.stderr.strip()[-300:]}); trying {SDIST_URL}", flush=True)
            try:
                with urllib.request.urlopen(SDIST_URL, timeout=120) as resp, got.open("wb") as out:
                    shutil.copyfileobj(resp, out)
            except OSError as exc:
                die(f"cannot download {SDIST_URL}: {exc}")
        digest = sha256_of(got)
        if digest != SHA256:
            die(f"sha256 mismatch for {SDIST}: got {digest}, pinned {SHA256}")
        got.replace(target)
    return target


def unpack(sdist: Path, cache: Path) -> Path:
    """The unpacked source tree (cache/packaging-24.2), unpacked once per verified sdist."""
    dest = cache / f"{SUITE}-{VERSION}"
    marker = dest / ".mesh-bench-sha256"
    if marker.exists() and marker.read_text().strip() == SHA256:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(cache, filter="data")
        else:  # Python < 3.11.4
            tar.extractall(cache)
    if not (dest / "tests").is_dir():
        die(f"{sdist} has no tests/ directory under {dest}")
    marker.write_text(SHA256 + "\n")
    return dest


def installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def ensure_deps(kinds: list[str], allow_install: bool) -> None:
    runners = sorted({d for k in kinds for d in RUNNER_DEPS[k] if installed(d) is None})
    if runners:
        pins = " ".join(f"{k}=={v}" for k, v in TEST_DEPS.items())
        wanted = " ".join(runners)
        die(f"missing {', '.join(runners)}: run\n    {sys.executable} -m pip install {wanted} {pins}")
    missing = [f"{name}=={ver}" for name, ver in TEST_DEPS.items() if installed(name) is None]
    for name, ver in TEST_DEPS.items():
        have = installed(name)
        if have is not None and have != ver:
            print(f"note: {name} {have} installed, the suite is pinned to {ver} (continuing)")
    if not missing:
        return
    cmd = [sys.executable, "-m", "pip", "install", *missing]
    if not allow_install:
        die("missing test dependencies: run\n    " + " ".join(cmd))
    print("installing test dependencies: " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:
        die("pip install failed; run it by hand:\n    " + " ".join(cmd))


# ----------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    key: str  # "serial", "xdist-2", "mesh-4"
    round: int
    seconds: float
    rc: int
    error: str | None = None  # set when the run gave no usable result; its time is not counted
    cpu: float = 0.0  # user+sys seconds of the command and the descendants it waited for
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> outcome
    summary: dict[str, int] | None = None  # outcome counts from the pytest summary line


def label(key: str) -> str:
    kind, _, n = key.partition("-")
    return f"{kind} -n {n}" if n else kind


def command(kind: str, n: int, junit: Path) -> list[str]:
    py = sys.executable
    if kind == "serial":
        return [py, "-m", "pytest", *PYTEST_ARGS, f"--junitxml={junit}", *SUITE_ARGS]
    if kind == "xdist":
        return [py, "-m", "pytest", "-n", str(n), *PYTEST_ARGS, f"--junitxml={junit}", *SUITE_ARGS]
    return [py, "-m", "mesh", "test", "-n", str(n), "--junitxml", str(junit), *SUITE_ARGS,
            "--", *MESH_PYTEST_ARGS]


HASHSEED = "0"  # set by main() from --hashseed


def environment(src: Path, kind: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    if HASHSEED:
        env["PYTHONHASHSEED"] = HASHSEED  # xdist needs every worker to collect in the same order
    paths = [str(src / "src")]
    if kind == "mesh":
        paths.append(str(ROOT))  # this checkout's mesh, after the suite's own packages
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PY_COLORS"] = "0"
    return env


SUMMARY_RE = re.compile(r"^=*\s*(?P<body>(?:\d+ [a-z]+(?:, )?)+) in [\d.]+s(?: \([\d:]+\))?\s*=*$")
COUNT_RE = re.compile(r"(\d+) ([a-z]+)")
NORMAL = {"errors": "error", "warnings": "warning"}


def parse_summary(text: str) -> dict[str, int] | None:
    """Outcome counts from the last pytest summary line ("10 passed, 1 xfailed in 2.3s")."""
    for line in reversed(text.splitlines()):
        match = SUMMARY_RE.match(line.strip())
        if match:
            counts = {o: 0 for o in OUTCOMES}
            for num, word in COUNT_RE.findall(match.group("body")):
                word = NORMAL.get(word, word)
                if word in counts:
                    counts[word] += int(num)
            return counts
    return None


def parse_junit(path: Path) -> dict[str, str]:
    """{classname::name -> outcome} from a pytest JUnit XML file.

    Per <testcase>: failed if it has <failure> (strict XPASS included), error if <error> (setup,
    teardown and collection errors), xfailed if <skipped type="pytest.xfail">, skipped if any other
    <skipped>, else passed (non-strict XPASS included). pytest writes a second <testcase> with the
    same id when a failed test also errors in teardown, so all entries of an id are joined in
    OUTCOMES order ("failed+error"); a test reported twice by a runner shows as "passed+passed".
    """
    parts: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        children = {child.tag: child for child in case}
        found = [name for tag, name in (("failure", "failed"), ("error", "error")) if tag in children]
        if not found:
            if "skipped" in children:
                found = ["xfailed" if children["skipped"].get("type") == "pytest.xfail" else "skipped"]
            else:
                found = ["passed"]
        parts.setdefault(test_id, []).extend(found)
    return {t: "+".join(sorted(p, key=OUTCOMES.index)) for t, p in parts.items()}


def tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-TAIL:]


def execute(kind: str, n: int, rnd: int, src: Path, work: Path, timeout: float) -> Run:
    key = kind if kind == "serial" else f"{kind}-{n}"
    stem = work / f"{key}-r{rnd}"
    junit, out, err = stem.with_suffix(".xml"), stem.with_suffix(".out"), stem.with_suffix(".err")
    cmd = command(kind, n, junit)
    with out.open("w") as fo, err.open("w") as fe:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=src, env=environment(src, kind), stdout=fo, stderr=fe,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            rc = -1
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop this run, report the finished ones
            stop(proc)
            raise
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = Run(key, rnd, seconds, rc)
    run.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if rc == -1:
        run.error = f"timed out after {timeout:.0f} s"
    elif rc not in (0, 1):  # pytest: 0 all passed, 1 tests failed; 2+ interrupted/internal/usage
        run.error = f"exit status {rc}"
    if junit.exists():
        try:
            run.outcomes = parse_junit(junit)
        except ET.ParseError as exc:
            run.error = run.error or f"unreadable JUnit XML: {exc}"
    else:
        run.error = run.error or f"no JUnit XML written ({junit.name})"
    run.summary = parse_summary(out.read_text(errors="replace"))
    if run.error:
        detail = tail(err) or tail(out)
        what = "mesh test failed" if kind == "mesh" else f"{label(key)} failed"
        print(f"\n  {what} (round {rnd}): {run.error}\n    " + detail.replace("\n", "\n    "), flush=True)
    junit.unlink(missing_ok=True)  # ~4 MB each; everything needed is in `run`
    return run


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def mesh_probe(src: Path) -> str | None:
    """None when `python -m mesh test --help` works from the suite's rootdir, else why not."""
    cmd = [sys.executable, "-m", "mesh", "test", "--help"]
    try:
        proc = subprocess.run(cmd, cwd=src, env=environment(src, "mesh"), capture_output=True,
                              text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "`python -m mesh test --help` did not finish in 60 s"
    if proc.returncode != 0:
        return f"exit status {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-TAIL:]}"
    return None


def warm_up(src: Path) -> int:
    """Untimed collect-only pass (writes bytecode caches); returns the number of tests collected."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", *PYTEST_ARGS, *SUITE_ARGS]
    proc = subprocess.run(cmd, cwd=src, env=environment(src, "serial"), capture_output=True, text=True,
                          check=False)
    match = re.search(r"(\d+) tests? collected", proc.stdout)
    if proc.returncode != 0 or not match:
        output = (proc.stdout + proc.stderr)[-TAIL:]
        die(f"collection failed (exit {proc.returncode}):\n{output}")
    return int(match.group(1))


# -------------------------------------------------------------------------------------- results


def counts(outcomes: dict[str, str]) -> dict[str, int]:
    total: dict[str, int] = {}
    for outcome in outcomes.values():
        for part in outcome.split("+"):
            total[part] = total.get(part, 0) + 1
    return total


def fmt_counts(c: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(c.items(), key=lambda kv: OUTCOMES.index(kv[0]))
                     if v) or "nothing"


def differences(ref: Run, run: Run) -> list[str]:
    """Every way `run` differs from `ref`: changed outcomes and extra ids first, then missing ids."""
    changed: list[str] = []
    extra: list[str] = []
    missing: list[str] = []
    for test_id in sorted(ref.outcomes.keys() | run.outcomes.keys()):
        want, got = ref.outcomes.get(test_id), run.outcomes.get(test_id)
        if want == got:
            continue
        if got is None:
            missing.append(f"missing:  {test_id} (serial: {want})")
        elif want is None:
            extra.append(f"extra:    {test_id} ({label(run.key)}: {got})")
        else:
            changed.append(f"outcome:  {test_id} serial={want} {label(run.key)}={got}")
    diffs = changed + extra + missing
    if ref.summary is not None and run.summary is not None and ref.summary != run.summary:
        diffs.insert(0, f"summary line: serial {fmt_counts(ref.summary)}; {label(run.key)} "
                        f"{fmt_counts(run.summary)}")
    if diffs:
        diffs.insert(0, f"{len(changed)} changed, {len(extra)} extra, {len(missing)} missing")
    return diffs


def med(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f}" if values else "       -"


def report_row(key: str, runs: list[Run], repeats: int, serial_median: float | None, note: str) -> str:
    secs = [r.seconds for r in runs if r.error is None]
    speed = "        -"
    if secs and serial_median:
        speed = f"{serial_median / statistics.median(secs):8.2f}x"
    lo = f"{min(secs):7.2f}" if secs else "      -"
    hi = f"{max(secs):7.2f}" if secs else "      -"
    cpu = med([r.cpu for r in runs if r.error is None])
    return f"  {label(key):<12} {len(secs)}/{repeats}  {med(secs)} {lo} {hi} {cpu}  {speed}   {note}"


def env_lines(collected: int, kinds: list[str]) -> list[str]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip() or "?"
    versions = {d: installed(d) or "-" for d in ("pytest", "pytest-xdist", *TEST_DEPS)}
    return [
        f"suite     {SUITE} {VERSION} (sdist sha256 {SHA256[:16]}...), {collected} tests collected",
        f"machine   {platform.platform()}, cpu_count {os.cpu_count()}, usable cpus {affinity}, "
        f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"python    {platform.python_version()} ({sys.executable})",
        "env       PYTHONHASHSEED=" + (HASHSEED or os.environ.get("PYTHONHASHSEED", "(random)"))
        + ", PYTHONDONTWRITEBYTECODE=" + os.environ.get("PYTHONDONTWRITEBYTECODE", "(unset)"),
        "versions  " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; mesh checkout {rev}",
        f"configs   {', '.join(kinds)}",
    ]


# ----------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="runs per configuration (default 3)")
    ap.add_argument("-n", "--n", dest="n", type=int, default=2, help="workers for the main comparison (2)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts for the scaling runs (1,2,4)")
    ap.add_argument("--skip-scaling", action="store_true", help="only the serial / xdist / mesh comparison")
    ap.add_argument("--only", default="serial,xdist,mesh", help="configurations to run (serial,xdist,mesh)")
    default_cache = Path(os.environ.get("MESH_BENCH_CACHE") or Path.home() / ".cache" / "mesh-bench")
    ap.add_argument("--cache-dir", type=Path, default=default_cache,
                    help="sdist download and unpack dir ($MESH_BENCH_CACHE, else ~/.cache/mesh-bench)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before one run is killed (300)")
    ap.add_argument("--hashseed", default="0",
                    help="PYTHONHASHSEED for every run (0); '' keeps the environment's (random by default)")
    ap.add_argument("--goal", type=float, default=RATIO_GOAL, help="mesh/xdist median ratio goal (0.9)")
    ap.add_argument("--no-install", action="store_true", help="print the pip command instead of installing")
    ap.add_argument("--keep-runs", action="store_true", help="keep each run's stdout/stderr files")
    ap.add_argument("--json", type=Path, help="also write every run's timing and counts here")
    args = ap.parse_args()
    global HASHSEED
    HASHSEED = args.hashseed

    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    if bad := [k for k in kinds if k not in KINDS]:
        ap.error(f"--only: unknown configuration(s) {bad}; choose from {','.join(KINDS)}")
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.repeats < 1 or args.n < 1 or any(w < 1 for w in workers):
        ap.error("--repeats, -n and --workers must be >= 1")

    cache = args.cache_dir.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    ensure_deps(kinds, allow_install=not args.no_install)
    src = unpack(fetch_sdist(cache), cache)
    collected = warm_up(src)
    print("\n".join(env_lines(collected, kinds)))
    print(f"source    {src}")
    if collected < MIN_TESTS:
        print(f"warning: only {collected} tests collected (< {MIN_TESTS})")

    mesh_down: str | None = None
    if "mesh" in kinds:
        mesh_down = mesh_probe(src)
        if mesh_down:
            print(f"\nmesh test unavailable: {mesh_down}\n(mesh rows skipped; serial and xdist still run)")

    work = Path(tempfile.mkdtemp(prefix="runs-", dir=cache))
    runs: dict[str, list[Run]] = {}
    disabled: dict[str, str] = {}

    def phase(name: str, plan: list[tuple[str, int]]) -> None:
        plan = [(k, n) for k, n in plan if k in kinds]
        todo = [(k, n) for k, n in plan if (k if k == "serial" else f"{k}-{n}") not in runs]
        for key in (k if k == "serial" else f"{k}-{n}" for k, n in todo):
            runs[key] = []
            if key.startswith("mesh") and mesh_down:
                disabled.setdefault(key, "mesh test unavailable (see above)")
        todo = [(k, n) for k, n in todo if (k if k == "serial" else f"{k}-{n}") not in disabled]
        if not todo:
            return
        print(f"\n{name}: {', '.join(label(k if k == 'serial' else f'{k}-{n}') for k, n in todo)}; "
              f"{args.repeats} round(s)", flush=True)
        for rnd in range(1, args.repeats + 1):
            print(f"  round {rnd}:", end="", flush=True)
            for kind, n in todo:
                key = kind if kind == "serial" else f"{kind}-{n}"
                if key in disabled:
                    continue
                run = execute(kind, n, rnd, src, work, args.timeout)
                runs[key].append(run)
                dump()  # partial results survive an interruption
                if run.error:  # execute() printed why; a failed configuration is not retried
                    disabled[key] = f"failed: {run.error}"
                    if run.rc == -1:  # a hang: don't spend --timeout on each worker count too
                        for other in (f"{kind}-{w}" for w in {args.n, *workers}):
                            disabled.setdefault(other, f"skipped after {label(key)} timed out")
                    print(f"  round {rnd}, continued:", end="")
                else:
                    print(f"  {label(key)} {run.seconds:.1f}s", end="", flush=True)
            print(flush=True)

    def dump(ratio: float | None = None) -> None:
        if args.json:
            args.json.write_text(json.dumps({
                "suite": SUITE, "version": VERSION, "sha256": SHA256, "collected": collected,
                "cpus": os.cpu_count(), "python": platform.python_version(), "hashseed": HASHSEED,
                "ratio_mesh_xdist": ratio, "goal": args.goal,
                "runs": [{k: v for k, v in asdict(r).items() if k != "outcomes"}
                         | {"counts": counts(r.outcomes)} for rs in runs.values() for r in rs],
            }, indent=1) + "\n")

    interrupted = False
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        phase("comparison", [("serial", 0), ("xdist", args.n), ("mesh", args.n)])
        if not args.skip_scaling:
            phase("scaling", [(k, n) for n in workers for k in ("xdist", "mesh")])
    except KeyboardInterrupt:
        interrupted = True
        print("\n\ninterrupted: the rest reports only the runs that finished", flush=True)

    # ---- outcome check against the first usable serial run
    ref = next((r for r in runs.get("serial", []) if r.error is None), None)
    notes: dict[str, str] = {}
    problems: list[str] = []
    mesh_mismatch = False
    print("\noutcomes (JUnit XML per test id, and the pytest summary line, vs serial round 1):")
    if ref is None:
        print("  no usable serial run: outcome check skipped")
    else:
        print(f"  serial: {len(ref.outcomes)} test ids, {fmt_counts(counts(ref.outcomes))}"
              + ("" if ref.summary is None else f"; summary line: {fmt_counts(ref.summary)}"))
    for key, key_runs in runs.items():
        usable = [r for r in key_runs if r.error is None]
        if not usable:
            notes[key] = disabled.get(key, "no runs")
            continue
        if ref is None:
            notes[key] = fmt_counts(counts(usable[0].outcomes)) if usable else "-"
            continue
        matched = 0
        for run in usable:
            diffs = [] if run is ref else differences(ref, run)
            if not diffs:
                matched += 1
                continue
            print(f"  {label(key)} round {run.round} differs from serial: {diffs[0]} "
                  f"(JUnit: {fmt_counts(counts(run.outcomes))})")
            for line in diffs[1:21]:
                print(f"      {line}")
            if len(diffs) > 21:
                print(f"      ... {len(diffs) - 21} more")
        no_summary = sum(1 for r in usable if r.summary is None)
        notes[key] = ("reference" if key == "serial" and matched == len(usable) else
                      f"match {matched}/{len(usable)}")
        if no_summary:
            notes[key] += f" (no summary line in {no_summary}: JUnit only)"
        if key in disabled:
            notes[key] += f"; then {disabled[key]}"
        if key.startswith("mesh") and matched < len(usable):
            mesh_mismatch = True
        if key.startswith("xdist") and matched < len(usable):
            problems.append(f"{label(key)} outcomes differ from serial (its timing is not comparable)")
        if key == "serial" and matched < len(usable):
            problems.append("serial runs disagree with each other (a flaky suite)")

    # ---- tables
    serial_secs = [r.seconds for r in runs.get("serial", []) if r.error is None]
    serial_median = statistics.median(serial_secs) if serial_secs else None
    print(f"\nwall seconds, {args.repeats} run(s) each ({SUITE} {VERSION}, {collected} tests, "
          f"{os.cpu_count()} cpus, load avg now {os.getloadavg()[0]:.2f}; cpu med = median user+sys "
          "seconds of the command and the processes it waited for):")
    print(f"  {'configuration':<12} runs    median     min     max  cpu med  vs serial   outcomes")
    for key, key_runs in runs.items():
        print(report_row(key, key_runs, args.repeats, serial_median, notes.get(key, "")))

    def median_of(key: str) -> float | None:
        secs = [r.seconds for r in runs.get(key, []) if r.error is None]
        return statistics.median(secs) if secs else None

    ratio: float | None = None
    xm, mm = median_of(f"xdist-{args.n}"), median_of(f"mesh-{args.n}")
    if xm and mm:
        ratio = mm / xm
        verdict = "met" if ratio <= args.goal else "NOT met"
        print(f"\n  mesh/xdist at -n {args.n}: {ratio:.3f} (goal <= {args.goal}: {verdict})")
        if ratio > args.goal:
            problems.append(f"mesh/xdist ratio {ratio:.3f} > goal {args.goal}")
    elif "mesh" in kinds and "xdist" in kinds:
        why = disabled.get(f"mesh-{args.n}", "no usable runs")
        print(f"\n  mesh/xdist at -n {args.n}: not measured (mesh {why})")
        problems.append(f"mesh -n {args.n}: {why}")
    if "mesh" in kinds and mesh_down and not problems:
        problems.append(f"mesh test unavailable: {mesh_down}")
    if mesh_mismatch:
        problems.append("mesh outcomes differ from serial pytest")

    if not args.skip_scaling and ("xdist" in kinds or "mesh" in kinds):
        print("\nscaling (median wall seconds; speedup = serial median / median):")
        print("  workers     xdist      mesh   xdist speedup   mesh speedup   mesh/xdist")
        def cell(value: float | None, width: int, spec: str, suffix: str = "") -> str:
            return f"{value:{width}{spec}}{suffix}" if value else f"{'-':>{width}}{' ' * len(suffix)}"

        for n in workers:
            x, m = median_of(f"xdist-{n}"), median_of(f"mesh-{n}")
            xs = serial_median / x if x and serial_median else None
            ms = serial_median / m if m and serial_median else None
            print(f"  {n:>7} {cell(x, 9, '.2f')} {cell(m, 9, '.2f')} {cell(xs, 14, '.2f', 'x')} "
                  f"{cell(ms, 13, '.2f', 'x')}   {cell(m / x if x and m else None, 10, '.3f')}")

    dump(ratio)
    if interrupted:
        problems.append("interrupted before every run finished")
    if args.keep_runs:
        print(f"\nrun output kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)

    if problems:
        print("\nFAIL: " + "; ".join(problems))
        return 1
    print("\nOK" + ("" if "mesh" in kinds else " (mesh not run)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
