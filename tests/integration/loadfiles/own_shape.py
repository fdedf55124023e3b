"""An existing locustfile with its own LoadTestShape, as a team writes it for bare Locust:
2 users for 3 s, 8 users for 3 s, then stop. The harness runs it unchanged."""

from locust import HttpUser, LoadTestShape, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.1)

    @task
    def home(self) -> None:
        self.client.get("/fast")


class Stages(LoadTestShape):
    stages = [(3, 2), (6, 8)]  # (until run time s, users)

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        for until, users in self.stages:
            if run_time < until:
                return (users, 100.0)
        return None
