"""Faults: the Toxiproxy adapter and the phase timeline."""

from harness.chaos.toxiproxy import ToxiproxyClient

__all__ = ["ToxiproxyClient"]
