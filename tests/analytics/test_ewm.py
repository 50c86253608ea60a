"""ewma / ewm_std equal pandas' Series.ewm(alpha=...) in every adjust / ignore_na mode.

Tolerances: mean rtol 1e-12 (the mean uses a different but equivalent recurrence), std
rtol 1e-9 + atol 1e-12; NaN exactly where pandas has NaN; constant series exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kernels.ewm import ewm_std, ewma


def check(x: np.ndarray, alpha: float, adjust: bool, ignore_na: bool, min_periods: int) -> None:
    ew = pd.Series(x, dtype=np.float64).ewm(
        alpha=alpha, adjust=adjust, ignore_na=ignore_na, min_periods=min_periods
    )
    ref_mean, ref_std = ew.mean().to_numpy(), ew.std().to_numpy()
    mean, std = (
        ewma(x, alpha, adjust, ignore_na, min_periods),
        ewm_std(x, alpha, adjust, ignore_na, min_periods),
    )
    np.testing.assert_array_equal(np.isnan(mean), np.isnan(ref_mean))
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(std), np.isnan(ref_std))
    np.testing.assert_allclose(std, ref_std, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("adjust", [True, False])
@pytest.mark.parametrize("ignore_na", [True, False])
def test_matches_pandas_with_gaps(alpha: float, adjust: bool, ignore_na: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(50.0, 3.0, 400)
    x[:3] = np.nan
    x[rng.random(x.size) < 0.15] = np.nan
    check(x, alpha, adjust, ignore_na, 0)
    check(x, alpha, adjust, ignore_na, 5)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)), max_size=120),
    st.floats(0.001, 1.0),
    st.booleans(),
    st.booleans(),
)
def test_matches_pandas_on_random_series(
    values: list[float], alpha: float, adjust: bool, ignore_na: bool
) -> None:
    check(np.array(values, dtype=np.float64), alpha, adjust, ignore_na, 0)


def test_constant_series_is_exact() -> None:
    x = np.full(1000, 2.7)
    assert np.allclose(ewma(x, 0.2), 2.7, rtol=1e-15, atol=0)
    sd = ewm_std(x, 0.2)
    assert np.isnan(sd[0]) and np.all(sd[1:] == 0.0)


def test_empty_and_invalid_alpha() -> None:
    assert ewma([], 0.5).size == 0 and ewm_std([], 0.5).size == 0
    assert np.isnan(ewma([np.nan, np.nan], 0.5)).all()
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError):
            ewma([1.0], bad)
