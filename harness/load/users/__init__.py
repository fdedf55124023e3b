"""Bundled Locust user classes, one per client behaviour.

``load.user: NAME`` in a scenario picks one of these unless ``load.locustfile`` names
another module or file. The fault clients (``StalledClient``, ``SlowlorisClient``,
``SlowHttpReader``, ``IdleKeepAliveClient``, ``AbruptCloser``) work against any TCP or HTTP
service; the others speak the bundled samples' protocols. ``OpenHttpUser`` is the open
model: requests at the scenario's ``arrival_rate``, latency from each intended start.
"""

from harness.load.users._faults import *  # noqa: F403
from harness.load.users._faults import __all__ as _faults_all
from harness.load.users._http import *  # noqa: F403
from harness.load.users._http import __all__ as _http_all
from harness.load.users._open import *  # noqa: F403
from harness.load.users._open import __all__ as _open_all
from harness.load.users._stream import *  # noqa: F403
from harness.load.users._stream import __all__ as _stream_all

__all__ = sorted([*_faults_all, *_http_all, *_open_all, *_stream_all])
