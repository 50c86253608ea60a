"""The sample suite under sample_suite/ is test *data*: it fails, errors and skips on purpose and
is run in subprocesses by test_output.py (and by `mesh test`'s own tests). It is its own rootdir,
so this package's pytest run must not collect it."""

collect_ignore = ["sample_suite"]
