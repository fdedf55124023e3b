"""Streaming user classes (WebSocket, raw TCP, stalled clients, slow readers)."""

from __future__ import annotations

__all__: list[str] = []
