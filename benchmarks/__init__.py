"""Benchmarks for sm_payloads (run as modules from the repository root, see README.md)."""
