"""Helpers shared by tests: real mesh processes, hypothesis strategies for wire messages."""
