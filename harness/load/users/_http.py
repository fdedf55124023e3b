"""HTTP user classes (API users against gateways and plain services)."""

from __future__ import annotations

from locust import FastHttpUser, between, task

from harness.load._options import option

__all__ = ["HttpApiUser"]


class HttpApiUser(FastHttpUser):
    """Calls ``load.options.path`` (default ``/api/item/1``) in a loop."""

    wait_time = between(0.01, 0.05)

    @task
    def call(self) -> None:
        self.client.get(str(option("path", "/api/item/1")), name=str(option("name", "api")))
