"""Two user classes, one per endpoint of two_endpoints.py."""

from locust import HttpUser, constant, task


class FastUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def fast(self) -> None:
        self.client.get("/fast")


class SlowUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def slow(self) -> None:
        self.client.get("/slow")
