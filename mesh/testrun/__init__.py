"""`mesh test`: a pytest suite run across the mesh.

The client side lives here (pure planning, report bookkeeping, terminal and JUnit output, the
run controller); the worker side is `actors.executors.pytest_session` and its pytest plugin.
"""
