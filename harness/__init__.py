"""Soak Harness: chaos and load tests that find resource leaks before production does."""

__version__ = "0.1.0"
