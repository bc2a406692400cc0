"""Benchmarking: host bench orchestration, per-artifact worker, plot."""
