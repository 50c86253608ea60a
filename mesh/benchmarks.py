"""Built-in benchmarks that need nothing downloaded, for `benchmark` and `callable` tasks.

Convention (see docs/EXECUTORS.md): a benchmark function is called as
`fn(batch_size=..., model=..., precision=..., **rest_of_config)` and returns a zero-argument `step()`
that the harness times (setup stays outside the timing), or None, in which case the call itself is
what gets timed. numpy is imported inside the functions only, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRECISIONS = ("fp16", "fp32", "fp64")


def _dtype(precision: str) -> Any:
    import numpy as np

    dtypes = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64}
    if precision not in dtypes:
        raise ValueError(
            f"unknown precision {precision!r} for the numpy benchmarks: "
            f"expected one of {', '.join(PRECISIONS)}"
        )
    return dtypes[precision]


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")
    return value


def numpy_matmul(batch_size: int, size: int = 256, precision: str = "fp32", **_: Any) -> Callable[[], Any]:
    """A batch of `batch_size` (size x size) matrices multiplied by one (size x size) matrix."""
    import numpy as np

    dtype = _dtype(precision or "fp32")
    batch_size, size = _positive("batch_size", batch_size), _positive("size", size)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch_size, size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty((batch_size, size, size), dtype=dtype)

    def step() -> Any:
        return np.matmul(a, b, out=out)

    return step


def numpy_mlp(
    batch_size: int, hidden: int = 256, layers: int = 3, precision: str = "fp32", **_: Any
) -> Callable[[], Any]:
    """The forward pass of a tiny MLP: `layers` dense layers of width `hidden` with ReLU."""
    import numpy as np

    dtype = _dtype(precision or "fp32")
    batch_size, hidden = _positive("batch_size", batch_size), _positive("hidden", hidden)
    layers = _positive("layers", layers)
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(hidden)
    weights = [(rng.standard_normal((hidden, hidden)) * scale).astype(dtype) for _ in range(layers)]
    biases = [np.zeros(hidden, dtype=dtype) for _ in range(layers)]
    x = rng.standard_normal((batch_size, hidden)).astype(dtype)

    def step() -> Any:
        h = x
        for w, bias in zip(weights, biases, strict=True):
            h = np.maximum(h @ w + bias, 0)
        return h

    return step


def noop(*args: Any, **kwargs: Any) -> None:
    """Does nothing and returns None: measures the dispatch path itself."""
    return None
