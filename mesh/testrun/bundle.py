"""The code bundle `mesh test` ships to workers: a deterministic, content-addressed tar.gz.

The client packs the files under the run's root (what git tracks there plus untracked files git
does not ignore; outside a git checkout, everything but caches, virtualenvs and VCS folders) into
a tar with fixed owners and times, so the same tree always gives the same sha256. A worker keeps
unpacked bundles under `<work-dir>/.mesh-bundles/<sha256>/` and fetches only what it lacks: an
unchanged tree is never sent twice. Unpacking uses tarfile's "data" filter (no absolute paths,
no links out of the folder, no device files).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 4 * 1024 * 1024  # one TestBundleChunk; well under the codec's frame limit
KEEP_BUNDLES = 8  # unpacked bundles a worker keeps (least recently used go first)
COMPLETE_MARK = ".mesh-bundle-complete"

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".mypy_cache",
                       ".ruff_cache", ".tox", ".nox", ".venv", "venv", "node_modules", ".eggs",
                       ".hypothesis", ".ipynb_checkpoints"})


class BundleError(Exception):
    """The bundle cannot be built, fetched or unpacked (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Bundle:
    sha256: str
    data: bytes
    files: int


def _git_files(root: Path) -> list[str] | None:
    """Files git tracks under root, plus untracked ones it does not ignore; None outside git."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    names = [n for n in out.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    # deleted-but-tracked files are listed too; symlinks to directories are skipped
    return [n for n in names if (root / n).is_file() or (root / n).is_symlink()]


def _walk_files(root: Path) -> list[str]:
    found: list[str] = []
    for here, dirs, files in os.walk(root):
        base = Path(here)
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                   and not (base / d / "pyvenv.cfg").exists()]
        found.extend(str((base / f).relative_to(root)) for f in files
                     if not f.endswith((".pyc", ".pyo")))
    return found


def bundle_files(root: Path) -> list[str]:
    """Relative paths (POSIX, sorted) of what goes into the bundle of `root`."""
    names = _git_files(root)
    if names is None:
        names = _walk_files(root)
    return sorted({Path(n).as_posix() for n in names
                   if not any(part in SKIP_DIRS for part in Path(n).parts)})


def build_bundle(root: str | os.PathLike[str]) -> Bundle:
    """Pack `root` deterministically; the sha256 of the bytes names the bundle."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise BundleError(f"{root} is not a directory")
    names = bundle_files(root)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = root / name
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            elif info.issym():
                tar.addfile(info)
    data = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    return Bundle(hashlib.sha256(data).hexdigest(), data, len(names))


Fetch = Callable[[int, int], Awaitable[tuple[int, bytes]]]  # (offset, length) -> (total, data)


class BundleCache:
    """A worker's unpacked bundles. One per worker process; safe for concurrent leases."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise BundleError(f"not a sha256 bundle name: {sha256!r}")
        return self.root / sha256

    def ready(self, sha256: str) -> Path | None:
        path = self.path(sha256)
        if (path / COMPLETE_MARK).exists():
            os.utime(path)  # most recently used
            return path
        return None

    async def ensure(self, sha256: str, fetch: Fetch) -> Path:
        """The unpacked bundle, fetched chunk by chunk and verified if it is not here yet."""
        cached = self.ready(sha256)
        if cached is not None:
            return cached
        self.root.mkdir(parents=True, exist_ok=True)
        digest, parts, offset, total = hashlib.sha256(), [], 0, None
        while total is None or offset < total:
            total_now, data = await fetch(offset, CHUNK_BYTES)
            if total is None:
                total = total_now
            if total_now != total or (not data and offset < total):
                raise BundleError(f"bundle {sha256[:12]} changed or was cut short while fetching")
            digest.update(data)
            parts.append(data)
            offset += len(data)
        if digest.hexdigest() != sha256:
            raise BundleError(f"bundle {sha256[:12]} does not match its sha256 after fetching")
        return self._unpack(sha256, b"".join(parts))

    def _unpack(self, sha256: str, data: bytes) -> Path:
        final = self.path(sha256)
        staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=self.root))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")
            (staging / COMPLETE_MARK).touch()
            try:
                staging.rename(final)
            except OSError:  # another lease unpacked it first
                if self.ready(sha256) is None:
                    raise
        except (OSError, tarfile.TarError) as err:
            raise BundleError(f"cannot unpack bundle {sha256[:12]}: {err}") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._evict(keep=final)
        return final

    def _evict(self, keep: Path) -> None:
        bundles = [p for p in self.root.iterdir() if p.is_dir() and (p / COMPLETE_MARK).exists()]
        bundles.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in bundles[KEEP_BUNDLES:]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)
