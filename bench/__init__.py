"""Benchmarks: measured on the real broker, run by hand or by `make bench-*`, never as tests."""
