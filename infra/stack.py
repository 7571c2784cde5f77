"""What the stack is made of, in one place: its processes, services, subscriptions and environment.

infra/Procfile is the single list of process commands. Local mode (supervisord, `make dev`)
and docker-compose.yml both run exactly those commands with exactly `process_environment()`;
only the addresses of the infrastructure (`Infra`) differ, and tests/static checks that the
compose file agrees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from infra.privileges import CELERY_SERVICES, user_name
from infra.secrets import password_variable
from services.notifications import bootstrap as notifications_bootstrap
from services.orders import bootstrap as orders_bootstrap
from services.payments import bootstrap as payments_bootstrap
from shared.topology import (
    Topology,
    celery_monitor_topology,
    service_topology,
    shared_topology,
    task_topology,
)

ROOT = Path(__file__).resolve().parents[1]
PROCFILE = ROOT / "infra" / "Procfile"

# The event types each core service's queue is bound to, read from the handlers its consumer
# runs (services/<name>/bootstrap.py): what the broker is told at boot is what is handled.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "orders": tuple(orders_bootstrap.HANDLERS),
    "payments": tuple(payments_bootstrap.HANDLERS),
    "notifications": tuple(notifications_bootstrap.HANDLERS),
}


def core_topology() -> Topology:
    """What the broker holds before any process starts: the compose broker loads it from
        its definitions at boot, local mode declares it in `make dev`. Without it, an event
        published before a subscriber's first start would reach the log but not its queue. With it
    too, the bindings through which Flower watches the Celery services' workers."""
    topology = list(shared_topology())
    for service, event_types in SUBSCRIPTIONS.items():
        topology += service_topology(service, event_types)
    for service in CELERY_SERVICES:
        topology += task_topology(service) + celery_monitor_topology(service)
    return topology


# Each service's own Redis database: a service never reads another one's store.
REDIS_DB = {"orders": 1, "payments": 2, "notifications": 3, "dashboard": 4, "loyalty": 5}

# Process types that keep no port and no state: run as many replicas as needed.
SCALABLE_KINDS = ("relay", "consumer", "worker")
WEB_KINDS = ("api", "web")  # the processes that serve HTTP (`<service>-api`, `dashboard-web`)

# Services that `make dev` / `make run` do not start: the subscriber demo adds them to a
# running shop (`make start SERVICE=loyalty`), to show a new consumer joining without
# any change to the producers. In compose they sit behind a profile of the same name.
ADDED_LATER = ("loyalty",)

# The variables that move local mode's ports (*_PORT in infra/Procfile): tests, benchmarks
# and demos give a stack of theirs free ports this way, beside a developer's.
PORT_VARIABLES = (
    "ORDERS_PORT",
    "PAYMENTS_PORT",
    "NOTIFICATIONS_PORT",
    "DASHBOARD_PORT",
    "LOYALTY_PORT",
    "SMTP_SINK_PORT",
    "SMTP_SINK_HTTP_PORT",
)

# Processes of local mode only: in docker compose, mailpit plays the SMTP sink.
LOCAL_ONLY = ("smtp-sink",)


@dataclass(frozen=True)
class Process:
    name: str
    command: str

    @property
    def service(self) -> str:
        """`notifications-worker` belongs to `notifications`; `smtp-sink` to itself."""
        return self.name if self.name in LOCAL_ONLY else self.name.rsplit("-", 1)[0]

    @property
    def kind(self) -> str:
        return self.name.rsplit("-", 1)[1]

    @property
    def scalable(self) -> bool:
        return self.name not in LOCAL_ONLY and self.kind in SCALABLE_KINDS


def procfile(path: Path = PROCFILE) -> dict[str, Process]:
    processes = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([\w-]+):\s*(.+)$", line)
        if match:
            processes[match.group(1)] = Process(match.group(1), match.group(2).strip())
    return processes


def shell_command(process: Process) -> list[str]:
    """How a Procfile line is run: by a shell (it expands ${PORT:-default}) that `exec`s the
    process, so the process manager's signals reach it and not a waiting shell."""
    return ["/bin/sh", "-c", f"exec {process.command}"]


class MissingPassword(LookupError):
    """A service's password is not in the environment: `make dev` / `make run` write them to .env."""


def service_password(service: str, kind: str, environ: Mapping[str, str]) -> str:
    """`<SERVICE>_AMQP_PASSWORD` or `<SERVICE>_REDIS_PASSWORD` (kind `AMQP` or `REDIS`)."""
    name = password_variable(service, kind)
    password = environ.get(name)
    if not password:
        raise MissingPassword(
            f"{name} is not set: each service connects as its own user; `make dev` writes the "
            "passwords to .env (python -m infra.secrets), or export them yourself"
        )
    return password


def amqp_password(service: str, environ: Mapping[str, str]) -> str:
    """The broker password of a service's own user."""
    return service_password(service, "AMQP", environ)


def _with_credentials(url: str) -> str:
    """`url` with `{user}:{password}@` in place of whatever credentials it had: a template."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc="{user}:{password}@" + address))


@dataclass(frozen=True)
class Infra:
    """Where the broker, Redis and the SMTP server are, and how the services' users are named:
    all that differs between the two modes."""

    amqp_url_template: str  # `{user}` and `{password}` are filled in per service
    redis_url_template: str  # the same; each service gets its own database on the server
    smtp_url: str
    # What the dashboard reads besides the bus: the broker's management API (queue depths,
    # consumers) and the public orders API it proxies for the shop panel. Empty orders URL:
    # the dashboard's own localhost default, which is right in local mode.
    management_url_template: str = ""
    orders_url: str = ""
    # Where the dashboard's journey view finds an order's trace (Jaeger's query API) and where a
    # browser opens it; empty: no Jaeger, the journey comes from the events alone.
    jaeger_query_url: str = ""
    jaeger_ui_url: str = ""
    # Where every process sends its spans (OTEL_EXPORTER_OTLP_ENDPOINT, OTLP over HTTP); empty:
    # nothing is passed, and tracing stays off unless the environment's own OTEL_* switch it on.
    otlp_endpoint: str = ""
    user_prefix: str = ""  # a test run's users are `<vhost>-<service>`, beside a developer's
    # Where the web processes listen: this machine only in local mode, unless BIND_HOST says
    # otherwise; every interface inside a container (compose publishes ports on 127.0.0.1).
    bind_host: str = "127.0.0.1"

    def user(self, service: str) -> str:
        return user_name(service, self.user_prefix)

    def amqp_url(self, service: str, environ: Mapping[str, str]) -> str:
        return self._fill(self.amqp_url_template, service, amqp_password(service, environ))

    def redis_url_for(self, service: str, environ: Mapping[str, str]) -> str:
        url = self._fill(self.redis_url_template, service, service_password(service, "REDIS", environ))
        return urlunsplit(urlsplit(url)._replace(path=f"/{REDIS_DB[service]}"))

    def management_url(self, service: str, environ: Mapping[str, str]) -> str:
        return self._fill(self.management_url_template, service, amqp_password(service, environ))

    def _fill(self, template: str, service: str, password: str) -> str:
        return template.format(user=quote(self.user(service), safe=""), password=quote(password, safe=""))


# docker compose: one broker and Redis user per service; compose fills in the passwords from .env.
COMPOSE_INFRA = Infra(
    amqp_url_template="amqp://{user}:{password}@rabbitmq:5672/%2F",
    redis_url_template="redis://{user}:{password}@redis:6379",
    smtp_url="smtp://mailpit:1025",
    management_url_template="http://{user}:{password}@rabbitmq:15672",
    orders_url="http://orders-api:8001",
    jaeger_query_url="http://jaeger:16686",
    jaeger_ui_url="http://localhost:16686",
    otlp_endpoint="http://jaeger:4318",
    bind_host="0.0.0.0",
)

# CLUSTER=1 (infra/compose.cluster.yml): the broker's three nodes, every one in each URL, `;`
# between them (Celery's failover syntax, which shared/broker.py reads for pika too).
CLUSTER_NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
COMPOSE_CLUSTER_INFRA = replace(
    COMPOSE_INFRA,
    amqp_url_template=";".join(f"amqp://{{user}}:{{password}}@{node}:5672/%2F" for node in CLUSTER_NODES),
    management_url_template=";".join(f"http://{{user}}:{{password}}@{node}:15672" for node in CLUSTER_NODES),
)

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def local_infra(environ: Mapping[str, str]) -> Infra:
    """Local mode: the developer's broker and Redis (AMQP_URL, REDIS_URL: their administrator's
    URLs, with which `make dev` creates the services' users) and the local SMTP sink."""
    amqp_url = environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    return Infra(
        amqp_url_template=_with_credentials(amqp_url),
        redis_url_template=_with_credentials(environ.get("REDIS_URL", DEFAULT_REDIS_URL)),
        smtp_url=f"smtp://127.0.0.1:{environ.get('SMTP_SINK_PORT', '1025')}",
        management_url_template=f"http://{{user}}:{{password}}@{urlsplit(amqp_url).hostname}:15672",
        user_prefix=environ.get("SHOP_USER_PREFIX", ""),
        bind_host=environ.get("BIND_HOST", "127.0.0.1"),
    )


def process_environment(process: Process, infra: Infra, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment every process of a service gets, in both modes."""
    if process.name in LOCAL_ONLY:
        return {}
    environment = {
        "AMQP_URL": infra.amqp_url(process.service, environ),
        "REDIS_URL": infra.redis_url_for(process.service, environ),
        "SMTP_URL": infra.smtp_url,
    }
    if infra.otlp_endpoint:
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = infra.otlp_endpoint
    if process.kind in WEB_KINDS:
        # the operator endpoints' token (.env); without one they refuse everyone
        environment["BIND_HOST"] = infra.bind_host
        environment["OPERATOR_TOKEN"] = environ.get("OPERATOR_TOKEN", "")
    if process.service == "dashboard":
        environment["MANAGEMENT_URL"] = infra.management_url("dashboard", environ)
        if infra.orders_url:
            environment["ORDERS_URL"] = infra.orders_url
        if infra.jaeger_query_url and process.kind in WEB_KINDS:
            environment["JAEGER_QUERY_URL"] = infra.jaeger_query_url
            environment["JAEGER_UI_URL"] = infra.jaeger_ui_url
    return environment
