"""Bundled Locust user classes, one per client behaviour.

``load.user: NAME`` in a scenario picks one of these unless ``load.locustfile`` names
another module or file.
"""

from harness.load.users._http import *  # noqa: F403
from harness.load.users._http import __all__ as _http_all
from harness.load.users._stream import *  # noqa: F403
from harness.load.users._stream import __all__ as _stream_all

__all__ = sorted([*_http_all, *_stream_all])
