"""Sampling: metric sources per target and the 1 Hz sampler."""

from harness.metrics.sampler import Sampler
from harness.metrics.sources import make_source

__all__ = ["Sampler", "make_source"]
