"""Benchmarks behind ``ganforge bench``: they measure and write JSON; tests never assert timings."""
