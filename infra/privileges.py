"""Who may do what on the broker and in Redis: the shop's privileges, declared once as data.

Read by infra/export_definitions.py (the users the compose broker boots with), by local mode
(infra/dev creates the same users on the developer's broker and Redis) and by the test
sandbox (harness/sandbox.py, per-run users `<vhost>-<service>`). Queue and exchange names are
the same in every vhost, so the permissions are too; only user names get a prefix.

A service configures and reads only its own objects (`<s>`, `<s>.retry.*`, `<s>.dlq`,
`<s>.tasks`, its exchange `<s>.retry`), writes only to `shop.events` (topic permissions limit
the routing keys to the event types it publishes), `shop.dlx` (where it parks dead letters)
and its own exchanges; a Celery service also publishes into Celery's shared delay queues,
limited to its own task queue. Nobody writes to the default exchange: it reaches every queue. The
administrator (`admin`) is for operators, infra's set-up and Flower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kombu.transport.native_delayed_delivery import CELERY_DELAYED_DELIVERY_EXCHANGE, MAX_LEVEL, level_name

from shared.contract import PUBLISHERS
from shared.topology import (
    CELERY_CONTROL_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    EVENT_LOG,
    EVENTS_EXCHANGE,
    task_queue,
)

SERVICES = ("orders", "payments", "notifications", "dashboard", "loyalty")
ADMIN = "admin"
# The services that read the event log: loyalty's backfill (the dashboard's history comes from
# its own Redis feed, so it does not).
LOG_READERS = ("loyalty",)
# The dashboard reads queue depths from the management API.
TAGS = {"dashboard": ("monitoring",)}
# The services that run Celery. Its remote control (`<s>.pidbox`, `reply.<s>.pidbox`,
# `<host>.<s>.pidbox`) and task events (`<s>.celeryev`) are named after the service
# (shared.celery_app), so they are its own objects. Native delayed delivery for quorum queues
# uses queues Celery names for everyone (`celery_delayed_0..27`): infra declares them and binds
# each task queue to them (shared.topology.celery_delayed_topology, task_topology), and a
# Celery service may only publish into them (a delay starts at the first level; a task back
# from a delay carries, as its delivery exchange, the level or `celery_delayed_delivery` it was
# last dead-lettered to, and Celery republishes a retry without countdown there), with topic
# permissions that let it route only to its own task queue: it can neither declare, read, purge
# nor delete them, so not touch the others' pending retries.
# Flower's exchanges (`celery.pidbox`, `celeryev`), which infra binds to the Celery
# services' own (shared.topology.celery_monitor_topology), are the administrator's alone: a
# service may not broadcast to every worker through them, nor watch every service's task
# events. Its workers do answer Flower's inspections on Flower's `reply.celery.pidbox`, which
# kombu declares before each reply: declare and write, never read, so a service could at worst
# forge or disrupt a reply to the operator, never see another's. See docs/decisions.md, section 14.
CELERY_SERVICES = ("payments", "notifications")
CELERY_DELAY_ENTRIES = (
    *(level_name(level) for level in range(MAX_LEVEL, -1, -1)),
    CELERY_DELAYED_DELIVERY_EXCHANGE,
)
_FLOWER_REPLIES = re.escape(f"reply.{CELERY_CONTROL_EXCHANGE}")

# Commands no service needs and none may run: the whole keyspace, the server, other clients.
# EVAL/EVALSHA/SCRIPT LOAD (the stores' Lua), XADD/XREADGROUP/XAUTOCLAIM (outbox, dashboard),
# WATCH/MULTI/EXEC (apply_once), SCAN (metrics) stay allowed.
_REDIS_DENIED = (
    "-@dangerous",
    "-@admin",
    "-flushall",
    "-flushdb",
    "-keys",
    "-config",
    "-debug",
    "-shutdown",
    "-monitor",
    "-acl",
    "-script|flush",
    "-script|kill",
    "-function",
    "-migrate",
    "-move",
    "-swapdb",
)


@dataclass(frozen=True)
class Permissions:
    """Regular expressions over exchange and queue names, as RabbitMQ matches them."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class TopicPermission:
    """Routing keys a user may publish with (write) to a topic exchange."""

    exchange: str
    write: str
    read: str = ".*"


def user_name(service: str, prefix: str = "") -> str:
    """A service's broker and Redis user: `<service>`, or `<prefix><service>` in a test run."""
    return f"{prefix}{service}"


def _any_of(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def own_objects(service: str) -> str:
    """`<s>` and every `<s>.<anything>`: the service's queues, delay queues, DLQ, task queue and exchanges."""
    return rf"{re.escape(service)}(\..+)?"


def published_types(service: str) -> tuple[str, ...]:
    return tuple(sorted(t for t, publisher in PUBLISHERS.items() if publisher == service))


def broker_permissions(service: str) -> Permissions:
    own = own_objects(service)
    celery = service in CELERY_SERVICES
    # its workers' mailboxes (`<host>.<s>.pidbox`, `reply.<s>.pidbox`)
    mailboxes = (rf".+\.{re.escape(service)}\.pidbox",) if celery else ()
    flower_replies = (_FLOWER_REPLIES,) if celery else ()
    delays = tuple(map(re.escape, CELERY_DELAY_ENTRIES)) if celery else ()
    log = (re.escape(EVENT_LOG),) if service in LOG_READERS else ()
    # The dashboard peeks into every service's DLQ and replays by rejecting (read only).
    dlqs = (r".+\.dlq",) if service == "dashboard" else ()
    shared = (re.escape(EVENTS_EXCHANGE), re.escape(DEAD_LETTER_EXCHANGE))
    # Read on the shared exchanges is what binding one's own queue to them takes; write on
    # `shop.dlx`, what declaring a queue that dead-letters there and parking a message take.
    return Permissions(
        configure=_any_of(own, *mailboxes, *flower_replies),
        write=_any_of(*shared, own, *mailboxes, *flower_replies, *delays),
        read=_any_of(*shared, own, *log, *dlqs, *mailboxes),
    )


def topic_permissions(service: str) -> tuple[TopicPermission, ...]:
    """On `shop.events`, a service may publish only the event types it owns (none: `^$`)."""
    types = published_types(service)
    write = _any_of(*map(re.escape, types)) if types else "^$"
    events = (TopicPermission(EVENTS_EXCHANGE, write),)
    if service not in CELERY_SERVICES:
        return events
    # a delayed task's routing key: 28 bits of its delay, then its task queue's routing key
    delayed = rf"^([01]\.){{28}}{re.escape(task_queue(service))}$"
    return (*events, *(TopicPermission(exchange, delayed) for exchange in CELERY_DELAY_ENTRIES))


def redis_acl_rule(service: str, password: str, key_prefix: str = "") -> str:
    """The service's Redis user, in `ACL SETUSER` / aclfile syntax (without the user name):
    its own key namespace `<prefix><service>:*` and pub/sub channels only, no dangerous command."""
    namespace = f"{key_prefix}{service}:*"
    rule = ["reset", "on", f">{password}", f"~{namespace}", "resetchannels", f"&{namespace}", "+@all"]
    return " ".join([*rule, *_REDIS_DENIED])


def redis_acl_line(service: str, password: str, key_prefix: str = "", user_prefix: str = "") -> str:
    """One line of a Redis aclfile: `user <name> <rule>` (the user prefix is a test run's, `t-1234-`;
    the key prefix its key namespace, `t-1234:`)."""
    return f"user {user_name(service, user_prefix)} {redis_acl_rule(service, password, key_prefix)}"
