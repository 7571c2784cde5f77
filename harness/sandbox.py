"""One RabbitMQ vhost and one Redis key prefix per run (a test, a benchmark), removed afterwards;
and whether such a sandbox is idle."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import redis

from infra.stack import REDIS_DB

BROKER_HOST = "127.0.0.1:5672"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Sandbox:
    vhost: str
    redis_prefix: str

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@{BROKER_HOST}/{quote(self.vhost, safe='')}"

    def env(self) -> dict[str, str]:
        """What a service process needs to live inside this sandbox."""
        return {"AMQP_URL": self.amqp_url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": self.redis_prefix}


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def create_sandbox(label: str = "t") -> Sandbox:
    run_id = uuid.uuid4().hex[:8]
    sandbox = Sandbox(vhost=f"{label}-{run_id}", redis_prefix=f"{label}-{run_id}:")
    rabbitmqctl("add_vhost", sandbox.vhost)
    rabbitmqctl("set_permissions", "-p", sandbox.vhost, "guest", ".*", ".*", ".*")
    return sandbox


def redis_db(db: int) -> redis.Redis:
    """A client of one database of the test Redis (local mode gives every service its own)."""
    return redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + f"/{db}")


def destroy_sandbox(sandbox: Sandbox) -> None:
    """The vhost, and the sandbox's keys in database 0 and in each service's own database
    (local mode gives every service one; a `db=` next to a URL would be ignored)."""
    rabbitmqctl("delete_vhost", sandbox.vhost)
    for db in {0, *REDIS_DB.values()}:
        client = redis_db(db)
        keys = list(client.scan_iter(f"{sandbox.redis_prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def quiescent(sandbox: Sandbox, *services: str) -> bool:
    """Nothing left for these services to do: their queues (events, retries, tasks) and
    Celery's delay queues are empty, unacked messages included, so every delivery, task and
    retry was settled."""
    rows = rabbitmqctl("list_queues", "-p", sandbox.vhost, "name", "messages")
    depths = dict(row.split("\t") for row in rows.splitlines()[1:] if "\t" in row)
    own = tuple(f"{service}." for service in services)
    return all(
        int(messages) == 0
        for name, messages in depths.items()
        if (name in services or name.startswith((*own, "celery_delayed_"))) and not name.endswith(".dlq")
    )
