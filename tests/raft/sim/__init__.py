"""Deterministic Raft simulator: seeded network faults, crashes, membership changes and clients,
with safety invariants checked after every step and histories checked for linearizability."""
