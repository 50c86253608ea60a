"""Tests of the executors that run one task attempt on a worker."""
