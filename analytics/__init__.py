"""mesh analytics: Numba kernels over numpy arrays, the DuckDB result store, and the
trend / regression / anomaly / forecast API and reports built on them.

Importing `analytics` (or `analytics.store`, `analytics.schema`, `analytics.cli`) must not
import numba: the node and the CLI load this package on their start path. The kernels are
therefore exported lazily through the module `__getattr__` below; the first access to one
imports its kernel module (numba included), and its first call compiles it or loads it
from the on-disk cache (`cache=True`, honouring NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_KERNELS: dict[str, str] = {
    "rolling_mean": "analytics.kernels.rolling",
    "rolling_std": "analytics.kernels.rolling",
    "rolling_zscore": "analytics.kernels.rolling",
    "rolling_mean_std": "analytics.kernels.rolling",
    "ewma": "analytics.kernels.ewm",
    "ewm_std": "analytics.kernels.ewm",
    "mad_zscore": "analytics.kernels.anomaly",
    "rolling_median": "analytics.kernels.anomaly",
    "cusum": "analytics.kernels.anomaly",
    "threshold_anomalies": "analytics.kernels.anomaly",
    "zscore_anomalies": "analytics.kernels.anomaly",
    "mad_anomalies": "analytics.kernels.anomaly",
    "linear_trend": "analytics.kernels.trend",
    "mann_kendall": "analytics.kernels.trend",
    "TrendResult": "analytics.kernels.trend",
    "MannKendallResult": "analytics.kernels.trend",
    "holt_forecast": "analytics.kernels.forecast",
    "ar_forecast": "analytics.kernels.forecast",
    "ForecastResult": "analytics.kernels.forecast",
    "isolation_forest_scores": "analytics.kernels.iforest",
    "dbscan": "analytics.kernels.dbscan",
    "DBSCANResult": "analytics.kernels.dbscan",
    "detect_regression": "analytics.kernels.regression",
    "mann_whitney_u": "analytics.kernels.regression",
    "RegressionResult": "analytics.kernels.regression",
}

__all__ = sorted(_KERNELS)


def __getattr__(name: str) -> Any:
    module = _KERNELS.get(name)
    if module is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_KERNELS))
