"""Benchmarks: each module prints figures (not a test); run one with ``python -m bench.<name>``."""
