"""Benchmarks that measure Tessera against a baseline run on the same machine in the same run."""
