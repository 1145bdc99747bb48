"""Benchmarks run by ``scripts/bench-*``; each prints figures and ratios to a baseline."""
