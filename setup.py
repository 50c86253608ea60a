"""Packaging for mesh: one `mesh` command, five top-level packages, extras for tests and benchmarks."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_version() -> str:
    for line in (ROOT / "mesh" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("mesh/__init__.py defines no __version__")


RUNTIME = [
    "pyzmq>=26",
    "msgpack>=1.0",
    "orjson>=3.8",
    "uvloop>=0.19",
    "sqlite-utils>=3.36",
    "duckdb>=1.1",
    "numba>=0.60",
    "numpy>=1.26",
    "bokeh>=3.4",
    "psutil>=5.9",
    "prometheus-client>=0.20",
    "pyjwt>=2.8",
    "rich>=13",
]

TEST = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "mypy>=1.10",
    "playwright>=1.45",
    "pandas>=2.2",
    "scipy>=1.12",
    "scikit-learn>=1.4",
    "statsmodels>=0.14",
]

BENCH = [
    "distributed>=2024.1",
    "dask>=2024.1",
    "ray>=2.30",
    "pysyncobj>=0.3.12",
    "pytest-xdist>=3.5",
    "pandas>=2.2",
    "scikit-learn>=1.4",
]

setup(
    name="mesh",
    version=read_version(),
    description="A broker-free mesh that runs tests, benchmarks and commands across a fleet of machines",
    long_description=(ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["mesh", "mesh.*", "actors", "actors.*", "transports",
                                    "transports.*", "analytics", "analytics.*", "ui", "ui.*"]),
    install_requires=RUNTIME,
    extras_require={"test": TEST, "bench": BENCH},
    entry_points={"console_scripts": ["mesh = mesh.cli:main"],
                  "pytest11": ["mesh = actors.executors.pytest_plugins.mesh_marker"]},
    include_package_data=True,
)
