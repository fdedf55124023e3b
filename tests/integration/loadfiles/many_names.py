"""A user that puts an ID in every request name (as real locustfiles sometimes do)."""

import itertools

from locust import HttpUser, constant, task

_ids = itertools.count()


class ItemUser(HttpUser):
    wait_time = constant(0.01)

    @task
    def item(self) -> None:
        self.client.get("/fast", name=f"/item/{next(_ids)}")
