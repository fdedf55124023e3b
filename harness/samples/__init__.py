"""Bundled sample services (leaky/fixed pairs) and their registry."""

from harness.samples._registry import SAMPLES, Sample, register

__all__ = ["SAMPLES", "Sample", "register"]
