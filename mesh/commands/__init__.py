"""One module per `mesh` subcommand. Each has `HELP` (its line in `mesh --help`),
`configure(parser)` and `run(args) -> exit code`. Imports here stay light:
heavy libraries (numba, duckdb, bokeh) are imported inside `run`."""
