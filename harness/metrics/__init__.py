"""Sampling: metric sources per target and the 1 Hz sampler."""

from harness.metrics.sampler import Sampler
from harness.metrics.sources import evidence_source, make_source

__all__ = ["Sampler", "evidence_source", "make_source"]
