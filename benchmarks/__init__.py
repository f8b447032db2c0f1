"""Benchmarks: `make bench` runs benchmarks/run.py and writes benchmarks/results.json."""
