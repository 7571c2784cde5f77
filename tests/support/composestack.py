"""The docker compose stack, offline (`make images`, `OFFLINE=1 make run`), in its own project.

Its own compose project (containers, network and volumes of its own), free host ports and
secrets of its own (a random .env in a temporary folder, given by ENV_FILE, so a developer's
.env is neither read nor created), so it runs beside a developer's stack and beside the local
RabbitMQ and Redis the rest of the suite uses. Driven with make exactly as a person does;
`down --volumes` afterwards, and its secrets and generated users are deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from harness.launcher import make
from harness.waiting import wait_until
from infra import compose, secrets
from infra.ports import free_port

# Every host port docker-compose.yml publishes, by the variable that moves it.
PORT_VARIABLES = tuple(compose.port_variables().values())


def own_env_file() -> Path:
    """A .env made like `make run` makes one, in a temporary folder of its own."""
    path = Path(tempfile.mkdtemp(prefix="shop-compose-")) / ".env"
    secrets.ensure(path)
    return path


@dataclass
class ComposeStack:
    project: str = field(default_factory=lambda: f"shoptest-{uuid.uuid4().hex[:6]}")
    ports: dict[str, str] = field(default_factory=lambda: {v: str(free_port()) for v in PORT_VARIABLES})
    extra_env: dict[str, str] = field(default_factory=dict)
    env_file: Path = field(default_factory=own_env_file)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.ports,
            **self.extra_env,
            "MODE": "compose",
            "OFFLINE": "1",
            "COMPOSE_PROJECT_NAME": self.project,
            "ENV_FILE": str(self.env_file),
        }

    @property
    def secrets(self) -> dict[str, str]:
        return secrets.read(self.env_file)

    @property
    def admin(self) -> tuple[str, str]:
        """The broker's (and Flower's) operator login."""
        return ("admin", self.secrets["RABBITMQ_ADMIN_PASSWORD"])

    def mail_url(self) -> str:
        """Mailpit's API with its login in the URL, which requests (harness.mail) sends."""
        return (
            f"http://mail:{self.secrets['MAILPIT_UI_PASSWORD']}@127.0.0.1:{self.ports['SMTP_SINK_HTTP_PORT']}"
        )

    def remove(self) -> None:
        """Containers (every profile: loyalty's too, once the subscriber demo started them),
        volumes, the generated users and the secrets."""
        self.compose("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "5")
        shutil.rmtree(compose.generated_dir(self.project), ignore_errors=True)
        shutil.rmtree(self.env_file.parent, ignore_errors=True)

    def make(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return make(*args, env=self.env, timeout=timeout)

    def compose(self, *args: str) -> str:
        return compose.run(*args, environ=self.env)

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def containers(self, service: str, status: str = "running") -> list[str]:
        """Names of a compose service's containers in that state."""
        return self.compose("ps", "--status", status, "--format", "{{.Name}}", service).split()

    def docker(self, *args: str) -> None:
        subprocess.run(["docker", *args], check=True, capture_output=True, timeout=120)

    def queue(self, name: str) -> dict:
        response = requests.get(
            f"{self.url('RABBITMQ_MANAGEMENT_PORT')}/api/queues/%2F/{name}", auth=self.admin, timeout=5
        )
        response.raise_for_status()
        return response.json()

    def consumers(self, queue: str) -> int:
        return int(self.queue(queue).get("consumers", 0))

    def all_healthy(self) -> bool:
        """Every container of the stack runs, and those with a healthcheck report healthy; a
        one-shot step (CLUSTER=1's rabbitmq-cluster) has finished with success."""
        rows = self.compose("ps", "--all", "--format", "{{.State}} {{.ExitCode}} {{.Health}}").splitlines()
        return bool(rows) and all(
            (state == "running" and health in ([], ["healthy"])) or (state == "exited" and code == "0")
            for state, code, *health in (row.split() for row in rows)
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        wait_until(self.all_healthy, timeout, 1.0, "every container healthy")

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40")

    def diagnosis(self, order_ids: list[str]) -> str:
        """Where some orders got stuck: every log line naming one of them, and every queue that
        still holds messages (a DLQ among them says which service gave up on what)."""
        management = f"{self.url('RABBITMQ_MANAGEMENT_PORT')}/api/queues"
        try:
            queues = requests.get(management, auth=self.admin, timeout=10).json()
            held: object = {q["name"]: q.get("messages", 0) for q in queues if q.get("messages")}
        except requests.RequestException as exc:  # the broker (a cluster's first node) is away
            held = f"unknown, the management API did not answer: {exc!r}"
        lines = self.compose("logs", "--no-color").splitlines()
        about = [line for line in lines if any(order_id in line for order_id in order_ids)]
        return "\n".join([f"stuck: {order_ids}", f"queues holding messages: {held}", *about[-200:]])


@contextlib.contextmanager
def running_compose_stack(**env: str) -> Iterator[tuple[ComposeStack, float]]:
    """`make images` then `OFFLINE=1 make run` in a project of its own; yields the stack and the
    seconds `make run` took to all healthy. Removed with its volumes afterwards."""
    stack = ComposeStack(extra_env=env)
    try:
        stack.make("images", timeout=900)
        started = time.monotonic()
        stack.make("run", timeout=300)
        yield stack, time.monotonic() - started
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.remove()


def skip_without_engine(items: list[pytest.Item], folder: str) -> None:
    """Mark the tests of `folder` skipped, saying why, where no Docker engine answers."""
    problem = compose.engine_problem()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=f"the tests in {folder} need a Docker engine: {problem}")
    for item in items:
        if folder in str(item.path):
            item.add_marker(skip)
