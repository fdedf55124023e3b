"""Two user classes with the same pace (so the request mix follows the user mix), and a
tagged task the scenario excludes."""

from locust import HttpUser, constant, tag, task


class Reader(HttpUser):
    wait_time = constant(0.05)

    @task
    def read(self) -> None:
        self.client.get("/fast", name="/read")

    @tag("admin")
    @task
    def admin(self) -> None:
        self.client.get("/fast", name="/admin")


class Writer(HttpUser):
    wait_time = constant(0.05)

    @task
    def write(self) -> None:
        self.client.get("/fast", name="/write")
