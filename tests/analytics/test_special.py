"""The special functions behind p-values and intervals equal scipy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from analytics.kernels._special import betainc, norm_ppf, norm_two_sided_p, student_t_two_sided_p


def test_norm_ppf_matches_scipy_to_1e15() -> None:
    ps = np.r_[np.random.default_rng(0).random(500), 1e-300, 1e-20, 1e-10, 0.02425, 0.5, 0.975, 1 - 1e-10]
    for p in ps:
        ref = stats.norm.ppf(p)
        assert abs(norm_ppf(p) - ref) <= 2e-15 * max(1.0, abs(ref))
    assert norm_ppf(0.0) == -np.inf and norm_ppf(1.0) == np.inf and np.isnan(norm_ppf(1.5))


def test_betainc_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(500):
        a, b, x = rng.uniform(0.05, 60), rng.uniform(0.05, 60), rng.random()
        assert abs(betainc(a, b, x) - special.betainc(a, b, x)) <= 1e-12
    assert (
        betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0 and np.isnan(betainc(-1.0, 1.0, 0.5))
    )


@pytest.mark.parametrize("df", [1, 2, 5, 30, 1000, 1e6])
def test_student_t_p_value_matches_scipy(df: float) -> None:
    for t in (0.0, 0.5, 1.0, 2.0, 4.0, 10.0, -3.0):
        ref = 2 * stats.t.sf(abs(t), df)
        assert abs(student_t_two_sided_p(t, df) - ref) <= 1e-12 + 1e-7 * ref
    assert student_t_two_sided_p(np.inf, 5) == 0.0 and np.isnan(student_t_two_sided_p(np.nan, 5))


def test_normal_two_sided_p() -> None:
    for z in (0.0, 1.0, 1.96, 5.0, -8.0):
        assert abs(norm_two_sided_p(z) - 2 * stats.norm.sf(abs(z))) <= 1e-15 + 1e-12 * stats.norm.sf(abs(z))
