"""The harness inside Locust, for code that drives its parts directly (benchmarks).

Importing this imports Locust (and gevent's monkey-patching) and registers the plugin's
``init`` listener: only Locust processes and benchmarks import it, never the harness's own
process. A run's generated locustfile loads the same module (``harness.load._plugin``).
"""

from __future__ import annotations

from harness.load._inflight import TRACKER
from harness.load._plugin import LatencyPlugin
from harness.load._plugin import _suspended_frames as suspended_frames
from harness.load._plugin import _track_locust_clients as track_locust_clients
from harness.load._plugin import _track_requests as track_requests

__all__ = ["TRACKER", "LatencyPlugin", "suspended_frames", "track_locust_clients",
           "track_requests"]
