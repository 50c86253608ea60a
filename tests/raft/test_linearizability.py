"""The Wing-Gong-Lowe checker used by the simulator: it accepts what is linearizable and,
just as important, rejects what is not (a checker that never fails proves nothing)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from .sim.kv import KVInput, model_step
from .sim.linearizability import INFINITY, Operation, check, check_partition


def op(inp: str, value: str | None, output: tuple[str, ...] | None, call: float, ret: float,
       key: str = "k") -> Operation:
    return Operation("c", KVInput(inp, value), output, call, ret, key)


def linearizable(*ops: Operation) -> bool:
    return check_partition(list(ops), (), model_step)


def test_sequential_history_is_linearizable() -> None:
    assert linearizable(op("put", "a", None, 1, 2), op("append", "b", ("a", "b"), 3, 4),
                        op("get", None, ("a", "b"), 5, 6))


def test_concurrent_writes_may_take_effect_in_either_order() -> None:
    w1, w2 = op("put", "a", None, 1, 10), op("put", "b", None, 2, 9)
    assert linearizable(w1, w2, op("get", None, ("a",), 11, 12))
    assert linearizable(w1, w2, op("get", None, ("b",), 11, 12))


def test_stale_read_after_a_completed_write_is_rejected() -> None:
    assert not linearizable(op("put", "a", None, 1, 2), op("put", "b", None, 3, 4),
                            op("get", None, ("a",), 5, 6))


def test_reads_going_back_in_time_are_rejected() -> None:
    write = op("put", "new", None, 1, 20)  # concurrent with both reads
    assert not linearizable(op("put", "old", None, 0, 0.5), write,
                            op("get", None, ("new",), 2, 3), op("get", None, ("old",), 4, 5))


def test_write_with_unknown_outcome_may_or_may_not_have_happened() -> None:
    lost = op("append", "x", None, 1, INFINITY)
    assert linearizable(lost, op("get", None, (), 2, 3))
    assert linearizable(lost, op("get", None, ("x",), 2, 3))
    assert not linearizable(lost, op("get", None, ("x",), 2, 3), op("get", None, (), 4, 5))


def test_an_append_applied_twice_is_rejected() -> None:
    assert not linearizable(op("append", "x", ("x",), 1, 2), op("get", None, ("x", "x"), 3, 4))


def test_histories_are_checked_per_key() -> None:
    ops = [op("put", "a", None, 1, 2, key="k1"), op("get", None, ("a",), 3, 4, key="k1"),
           op("get", None, ("zz",), 3, 4, key="k2")]
    assert check(ops, (), model_step) == ["k2"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "append", "get"]), st.integers(0, 3),
                          st.integers(0, 3)), min_size=1, max_size=12))
def test_any_history_produced_by_a_sequential_run_is_accepted(
        script: list[tuple[str, int, int]]) -> None:
    """Run ops one at a time against the model, then blur their intervals (each op's call
    moves earlier, its return later, overlapping neighbours): still linearizable."""
    state: tuple[str, ...] = ()
    ops = []
    for i, (kind, stretch_back, stretch_fwd) in enumerate(script):
        value = f"v{i}" if kind != "get" else None
        _, new_state = model_step(state, KVInput(kind, value), None)
        output = None if kind == "put" else new_state
        t = 10 * i
        ops.append(op(kind, value, output, t - 7 * stretch_back, t + 1 + 7 * stretch_fwd))
        state = new_state
    assert linearizable(*ops)
