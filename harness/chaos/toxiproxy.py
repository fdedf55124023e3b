"""The one adapter over toxiproxy-python (0.1.1, 2019). Its quirks stay in this file.

- host/port are class attributes of ``APIConsumer`` (one server per process): every call
  sets them under a lock, so two clients for two servers never cross.
- no request timeouts: every call passes ``timeout=`` through to requests.
- enable/disable by deprecated POST, no PATCH: updates go through ``requests.patch`` here.
- ``version()`` returns raw bytes; only 400/404/409 are mapped: every other status and
  every transport error becomes ``ToxiproxyError`` here, ``raise ... from exc``.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from toxiproxy import exceptions as tp_exceptions
from toxiproxy.api import APIConsumer, validate_response

from harness.errors import ToxiproxyError
from harness.metrics.sources import http_get_text
from harness.scenario import Fault

_LOCK = threading.RLock()
_T = TypeVar("_T")
_HEADERS = {"User-Agent": "soak-harness"}  # Toxiproxy answers 403 to "Mozilla/..."
# Why a toxic change can go unanswered (toxiproxy 2.12, link.go / toxic_collection.go): the
# server holds the proxy's lock while it interrupts the last toxic of every open connection
# in that direction, and that toxic cannot take the interrupt while it is handing data to a
# writer blocked on a peer that does not read. If the peer then closes, the writer needs the
# same lock to remove the connection: the proxy is stuck for good (Shopify/toxiproxy#412).
CHANGE_HINT = (
    "Toxiproxy applies a toxic change to every open connection of the proxy and waits for "
    "each one's pending write, so a peer that stops reading holds it; one that then closes "
    "the connection leaves the proxy stuck for good (Shopify/toxiproxy#412); a fault on the "
    "stream that carries less (e.g. upstream) is rarely held")


class ToxiproxyClient:
    """Talks to one toxiproxy-server; remembers what it created so ``clear()`` undoes it."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.created_proxies: list[str] = []
        self.active_toxics: dict[tuple[str, str], Fault] = {}
        # toxics whose add went unanswered: the server may still apply them (clear() removes
        # them if so; not finding one there is no problem)
        self.unanswered: set[tuple[str, str]] = set()
        self.disabled: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @contextmanager
    def _consumer(self, what: str, hint: str = "") -> Iterator[type[APIConsumer]]:
        with _LOCK:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                yield APIConsumer
            except tp_exceptions.NotFound as exc:
                raise ToxiproxyError(f"toxiproxy {what}: not found ({_text(exc)})") from exc
            except tp_exceptions.ProxyExists as exc:
                raise ToxiproxyError(f"toxiproxy {what}: already exists ({_text(exc)})") from exc
            except tp_exceptions.InvalidToxic as exc:
                raise ToxiproxyError(f"toxiproxy {what}: rejected ({_text(exc)})") from exc
            except requests.Timeout as exc:
                raise ToxiproxyError(
                    f"toxiproxy {what}: no answer from {self.url} within {self.timeout:g}s"
                    + (f" ({hint})" if hint else "")
                ) from exc
            except requests.RequestException as exc:
                raise ToxiproxyError(f"toxiproxy {what}: cannot reach {self.url} ({exc})") from exc

    def _call(self, what: str, fn: Callable[[type[APIConsumer]], requests.Response],
              hint: str = "") -> Any:
        with self._consumer(what, hint) as api:
            response = fn(api)
            if response.status_code >= 300:
                raise ToxiproxyError(
                    f"toxiproxy {what}: HTTP {response.status_code}: {response.text.strip()[:200]}"
                )
            return response.json() if response.content else None

    # ------------------------------------------------------------------ queries

    def version(self, timeout: float | None = None) -> str:
        """Server version: ``/version`` is JSON since 2.7, plain text before."""
        wait = self.timeout if timeout is None else timeout
        body = self._call_raw("version", lambda api: api.get("/version", timeout=wait,
                                                               headers=_HEADERS))
        try:
            data = json.loads(body)
            return str(data.get("version", body)) if isinstance(data, dict) else str(data)
        except json.JSONDecodeError:
            return body.strip()

    def _call_raw(self, what: str, fn: Callable[[type[APIConsumer]], requests.Response]) -> str:
        with self._consumer(what) as api:
            response = fn(api)
            if response.status_code >= 300:
                raise ToxiproxyError(f"toxiproxy {what}: HTTP {response.status_code}")
            return response.content.decode("utf-8", "replace")

    def proxies(self) -> dict[str, Any]:
        """Every proxy on the server with its toxics (raw API objects)."""
        result = self._call("list proxies", lambda api: api.get(
            "/proxies", timeout=self.timeout, headers=_HEADERS))
        return dict(result or {})

    def ping(self, timeout: float | None = None) -> bool:
        """True when the API answers (within ``timeout`` s; default the client's)."""
        return self.silence(timeout) is None

    def silence(self, timeout: float | None = None) -> str | None:
        """None when the API answers within ``timeout`` s; else what it stopped doing."""
        # The watchdog asks this every 2 s for the whole run: one plain GET on a fresh
        # connection (http_get_text), not toxiproxy-python's requests call, which cost ~2.1 ms
        # of the harness's CPU and ~0.5 ms of the server's against ~0.4 and ~0.25 (measured
        # on this machine); every 2 s beside a load generator on a shared core, that showed.
        # No class-level host/port either, so no lock: a probe never waits behind a change.
        wait = self.timeout if timeout is None else timeout
        try:
            http_get_text(f"{self.url}/version", timeout=wait)
        except (OSError, http.client.HTTPException) as exc:
            cause = str(exc) if type(exc) is OSError else type(exc).__name__  # a status: say it
            return f"its API at {self.url} did not answer /version within {wait:g}s ({cause})"
        return None

    # ------------------------------------------------------------------ changes

    def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        """Create (or replace a stale) proxy ``name`` listening on ``listen``."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        if name in self.proxies():
            self.delete_proxy(name)
        info = self._call(f"create proxy {name!r}", lambda api: api.post(
            "/proxies", json=body, timeout=self.timeout, headers=_HEADERS))
        self.created_proxies.append(name)
        return dict(info or {})

    def delete_proxy(self, name: str) -> None:
        self._call(f"delete proxy {name!r}", lambda api: api.delete(
            f"/proxies/{name}", timeout=self.timeout, headers=_HEADERS))
        if name in self.created_proxies:
            self.created_proxies.remove(name)
        self.active_toxics = {k: v for k, v in self.active_toxics.items() if k[0] != name}
        self.disabled.discard(name)

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy (PATCH; disabling drops every open connection)."""
        with self._consumer(f"{'enable' if enabled else 'disable'} proxy {proxy!r}"):
            response = validate_response(requests.patch(
                f"{self.url}/proxies/{proxy}", json={"enabled": enabled},
                timeout=self.timeout, headers=_HEADERS))
            if response.status_code >= 300:
                raise ToxiproxyError(
                    f"toxiproxy patch proxy {proxy!r}: HTTP {response.status_code}")
        if enabled:
            self.disabled.discard(proxy)
        else:
            self.disabled.add(proxy)

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        """Apply a fault; returns the toxic's name (or ``down`` for a disabled proxy)."""
        if fault.type == "down":
            self.set_enabled(proxy, False)
            return "down"
        toxic = name or f"{fault.type}_{fault.stream}"
        body = {"name": toxic, "type": fault.type, "stream": fault.stream,
                "toxicity": fault.toxicity, "attributes": dict(fault.attributes)}
        try:
            self._call(f"add toxic {toxic!r} to {proxy!r}", lambda api: api.post(
                f"/proxies/{proxy}/toxics", json=body, timeout=self.timeout, headers=_HEADERS),
                CHANGE_HINT)
        except ToxiproxyError as exc:
            if isinstance(exc.__cause__, requests.Timeout):
                self.unanswered.add((proxy, toxic))
            raise
        self.active_toxics[(proxy, toxic)] = fault
        return toxic

    def remove_fault(self, proxy: str, toxic: str) -> None:
        """Undo ``add_fault`` (re-enables the proxy for ``down``)."""
        if toxic == "down":
            self.set_enabled(proxy, True)
            return
        self._call(f"remove toxic {toxic!r} from {proxy!r}", lambda api: api.delete(
            f"/proxies/{proxy}/toxics/{toxic}", timeout=self.timeout, headers=_HEADERS),
            CHANGE_HINT)
        self.active_toxics.pop((proxy, toxic), None)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        result = self._call(f"list toxics of {proxy!r}", lambda api: api.get(
            f"/proxies/{proxy}/toxics", timeout=self.timeout, headers=_HEADERS))
        return list(result or [])

    def clear(self) -> list[str]:
        """Remove every toxic, re-enable and delete every proxy this client made.

        Best effort: tries everything, returns the problems it met (never raises).
        """
        problems: list[str] = []
        for proxy, toxic in sorted(self.unanswered - set(self.active_toxics)):
            try:
                self.remove_fault(proxy, toxic)
            except ToxiproxyError as exc:
                if not isinstance(exc.__cause__, tp_exceptions.NotFound):
                    problems.append(str(exc))
        self.unanswered.clear()
        for proxy, toxic in list(self.active_toxics):
            try:
                self.remove_fault(proxy, toxic)
            except ToxiproxyError as exc:
                problems.append(str(exc))
        for proxy in list(self.disabled):
            try:
                self.set_enabled(proxy, True)
            except ToxiproxyError as exc:
                problems.append(str(exc))
        for proxy in list(self.created_proxies):
            try:
                self.delete_proxy(proxy)
            except ToxiproxyError as exc:
                problems.append(str(exc))
                self.created_proxies.remove(proxy)
        return problems


class ToxiproxyGroup:
    """Several toxiproxy-server processes acting as one (``toxiproxy_processes``): each proxy
    exists in every one of them under the same name, and a fault applies to all of them.

    A fault that one server refuses is removed again from those that took it before the
    error is raised, so a phase never runs with a fault on part of its connections.
    """

    def __init__(self, clients: list[ToxiproxyClient]) -> None:
        if not clients:
            raise ValueError("ToxiproxyGroup needs at least one client")
        self.clients = clients

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        """Apply ``fault`` on ``proxy`` in every server; returns the toxic's name."""
        done: list[ToxiproxyClient] = []
        toxic = ""
        try:
            for client in self.clients:
                toxic = client.add_fault(proxy, fault, name)
                done.append(client)
        except ToxiproxyError as exc:
            for client in done:
                try:
                    client.remove_fault(proxy, toxic)
                except ToxiproxyError as undo:
                    exc.add_note(f"and undoing it on {client.url} failed: {undo}")
            raise
        return toxic

    def remove_fault(self, proxy: str, toxic: str) -> None:
        """Undo ``add_fault`` in every server (tries all; raises the first error)."""
        errors: list[ToxiproxyError] = []
        for client in self.clients:
            try:
                client.remove_fault(proxy, toxic)
            except ToxiproxyError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def clear(self) -> list[str]:
        """``clear()`` of every server; the problems of all of them."""
        return [problem for client in self.clients for problem in client.clear()]


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace").strip()
    return str(arg).strip()
