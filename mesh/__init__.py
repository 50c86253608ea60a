"""mesh: a broker-free mesh that runs tests, benchmarks and commands across a fleet of machines.

Importing `mesh` stays cheap: no numba, no duckdb, no sockets are touched here.
"""

__version__ = "0.1.0"
