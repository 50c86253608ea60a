"""The `--dist` planner, pure: no processes, no clocks."""

from __future__ import annotations

from mesh.testrun.plan import Plan, requirement_key, scope_of

IDS = [f"a.py::test_{i}" for i in range(6)] + [f"b.py::T::test_{i}" for i in range(4)] + \
      [f"b.py::test_{i}" for i in range(2)]


def drain(plan: Plan, leases: int = 2) -> list[list[str]]:
    chunks = []
    while chunk := plan.take(lambda key: True, leases):
        chunks.append(chunk)
    return chunks


def test_load_hands_out_every_test_once_in_shrinking_chunks() -> None:
    chunks = drain(Plan([f"t.py::test_{i}" for i in range(100)]), leases=2)
    assert [n for c in chunks for n in c] == [f"t.py::test_{i}" for i in range(100)]
    sizes = [len(c) for c in chunks]
    assert sizes[0] == 13 and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_loadfile_and_loadscope_keep_their_units_whole() -> None:
    assert scope_of("b.py::T::test_1", "loadscope") == "b.py::T"
    assert scope_of("b.py::test_1", "loadscope") == "b.py"
    assert scope_of("b.py::T::test_1", "loadfile") == "b.py"
    for dist, units in (("loadfile", [IDS[:6], IDS[6:]]), ("loadscope", [IDS[:6], IDS[6:10], IDS[10:]])):
        chunks = drain(Plan(IDS, dist=dist), leases=8)
        for unit in units:  # every unit lands inside one chunk, in order
            holder = next(c for c in chunks if unit[0] in c)
            start = holder.index(unit[0])
            assert holder[start: start + len(unit)] == unit


def test_duration_goes_longest_first_then_unknown_in_order() -> None:
    plan = Plan(IDS, dist="duration", durations={IDS[3]: 5.0, IDS[7]: 9.0, IDS[0]: 1.0})
    order = [n for c in drain(plan, leases=1) for n in c]
    assert order[:3] == [IDS[7], IDS[3], IDS[0]]
    assert order[3:] == [n for n in IDS if n not in (IDS[7], IDS[3], IDS[0])]
    assert drain(Plan(IDS, dist="duration", durations={IDS[7]: 9.0}), leases=1)[0] == [IDS[7]]


def test_given_back_tests_go_first_and_requirements_route() -> None:
    cuda = {"hardware": ["cuda"]}
    plan = Plan(IDS, requirements={IDS[1]: cuda})
    key = requirement_key(cuda)
    cpu_only = plan.take(lambda k: k == "", 1)
    assert IDS[1] not in cpu_only
    plan.give_back(cpu_only[:2])
    assert plan.take(lambda k: k == "", 1)[:2] == cpu_only[:2]
    assert plan.take(lambda k: True, 1) == [IDS[1]]  # marked tests first to a lease that can run them
    assert plan.drop(key) == [] and plan.open_keys() == [""]
