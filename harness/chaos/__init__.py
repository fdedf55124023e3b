"""Faults: the Toxiproxy adapter (the one module that imports toxiproxy-python).

The phase timeline that applies and removes faults is ``harness.run.Run``; container faults
are the compose backend's (``Backend.apply_container_fault``).
"""

from harness.chaos.toxiproxy import ToxiproxyClient, ToxiproxyGroup

__all__ = ["ToxiproxyClient", "ToxiproxyGroup"]
