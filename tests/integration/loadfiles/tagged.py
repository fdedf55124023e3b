"""Two user classes with the same pace, tasks tagged: the scenario runs some tags only and
fixes one class's user count."""

from locust import HttpUser, constant, tag, task


class Reader(HttpUser):
    wait_time = constant(0.05)

    @tag("read")
    @task
    def read(self) -> None:
        self.client.get("/fast", name="/read")

    @tag("admin")
    @task
    def admin(self) -> None:
        self.client.get("/fast", name="/admin")


class Writer(HttpUser):
    wait_time = constant(0.05)

    @tag("write")
    @task
    def write(self) -> None:
        self.client.get("/fast", name="/write")
