"""pytest plugins mesh loads into test processes. This folder goes on a test process's
PYTHONPATH by itself (not the whole mesh package), so its modules import only the standard
library and pytest, and they are importable both as `mesh_session` and as this package's modules."""
