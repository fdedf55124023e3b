"""Two users: one keeps asking /fast, the other asks /hang, which the target answers only
after 60 s: its request is still in flight at the phase edge."""

from locust import HttpUser, constant, task


class Steady(HttpUser):
    wait_time = constant(0.05)

    @task
    def fast(self) -> None:
        self.client.get("/fast")


class Hanger(HttpUser):
    wait_time = constant(0.05)

    @task
    def hang(self) -> None:
        self.client.get("/hang?user=1", name="/hang")
