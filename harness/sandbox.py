"""One RabbitMQ vhost, one Redis key prefix and one set of service users per run (a test, a
benchmark), removed afterwards; and whether such a sandbox is idle.

The users are the shop's, named `<vhost>-<service>` so that parallel runs never share one,
with the permissions infra/privileges.py gives every deployment (infra/dev/grants.py makes
them) and random passwords of the run. The test itself acts as the administrator (`guest`,
`amqp_url`) where it sets things up or looks around, and as a service's user where it plays
that service.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import redis

from infra.dev import grants
from infra.privileges import SERVICES, user_name
from infra.secrets import password_variable
from infra.stack import REDIS_DB
from shared import topology
from shared.settings import Settings

BROKER_HOST = "127.0.0.1:5672"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Sandbox:
    vhost: str
    redis_prefix: str
    secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    granted: set[str] = field(default_factory=set, compare=False)  # services with users now

    @property
    def amqp_url(self) -> str:
        """The administrator's URL on the sandbox's vhost (what `make dev` is given as AMQP_URL)."""
        return f"amqp://guest:guest@{BROKER_HOST}/{quote(self.vhost, safe='')}"

    @property
    def user_prefix(self) -> str:
        return f"{self.vhost}-"

    def user(self, service: str) -> str:
        return user_name(service, self.user_prefix)

    def password(self, service: str, kind: str = "AMQP") -> str:
        """The run's password of a service's broker (`AMQP`) or Redis (`REDIS`) user."""
        return hashlib.sha256(f"{self.secret}:{service}:{kind}".encode()).hexdigest()[:32]

    @property
    def operator_token(self) -> str:
        """The run's OPERATOR_TOKEN: what a test sends as the operator (`Authorization: Bearer`)."""
        return self.password("operator", "TOKEN")

    def amqp_url_for(self, service: str) -> str:
        """The URL a service's processes connect with: its own user."""
        credentials = f"{self.user(service)}:{self.password(service)}"
        return f"amqp://{credentials}@{BROKER_HOST}/{quote(self.vhost, safe='')}"

    def redis_url_for(self, service: str, db: int = 0) -> str:
        return f"redis://{self.user(service)}:{self.password(service, 'REDIS')}@127.0.0.1:6379/{db}"

    def settings_for(self, service: str) -> Settings:
        """A service's settings as its processes would read them here: its own users, the run's prefix."""
        return Settings(
            service=service,
            amqp_url=self.amqp_url_for(service),
            redis_url=self.redis_url_for(service),
            redis_prefix=self.redis_prefix,
        )

    def env(self, services: Iterable[str] = SERVICES) -> dict[str, str]:
        """What local mode needs to run the shop inside this sandbox: the administrator's URLs,
        the key prefix, each service's user prefix and passwords, and the operator token."""
        passwords = {
            password_variable(service, kind): self.password(service, kind)
            for service in services
            for kind in ("AMQP", "REDIS")
        }
        return {
            "AMQP_URL": self.amqp_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": self.redis_prefix,
            "SHOP_USER_PREFIX": self.user_prefix,
            "OPERATOR_TOKEN": self.operator_token,
            **passwords,
        }

    def grant(self, *services: str) -> None:
        """Users for services beyond the shop's (a test's own `bustest`), with the same rules."""
        self.granted.update(services)
        grants.grant(self.env(services), services)


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def create_sandbox(label: str = "t") -> Sandbox:
    run_id = uuid.uuid4().hex[:8]
    sandbox = Sandbox(vhost=f"{label}-{run_id}", redis_prefix=f"{label}-{run_id}:")
    grants.BrokerAdmin(sandbox.amqp_url).create_vhost()
    sandbox.grant(*SERVICES)
    # what infra declares in every deployment, as the administrator: services only check it
    topology.apply(sandbox.amqp_url, topology.shared_topology())
    return sandbox


def redis_db(db: int) -> redis.Redis:
    """A client of one database of the test Redis (local mode gives every service its own)."""
    return redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + f"/{db}")


def destroy_sandbox(sandbox: Sandbox) -> None:
    """The users, the vhost, and the sandbox's keys in database 0 and in each service's own database
    (local mode gives every service one; a `db=` next to a URL would be ignored)."""
    grants.revoke(sandbox.env(sandbox.granted), sandbox.granted)
    grants.BrokerAdmin(sandbox.amqp_url).delete_vhost()
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
