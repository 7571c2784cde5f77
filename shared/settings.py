"""Configuration from the environment, the same in docker compose and in local mode.

A process reads its settings once, at start-up, into one frozen object that it hands to
whatever needs it; nothing reads the environment per event. Each variable is a field, named
like the variable in lower case, with its default stated here (or, for a variable only one
service reads, in that service's `settings.py`, whose class extends `Settings`).
"""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis import Redis

from shared.broker import broker_user

# A stalled Redis fails a call instead of hanging it (a handler on a consumer's I/O thread
# would hold up heartbeats and shutdown); the longest blocking read (XREAD, 1 s) fits well.
REDIS_TIMEOUT_S = 10


class ShopSettings(BaseSettings):
    """What every process of the shop reads, whichever service it runs: where the broker,
    Redis and the SMTP server are, and how it logs (and, as a web process, serves)."""

    # frozen: settings never change while a process runs; unknown keyword arguments are refused
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    # one broker, or a cluster's nodes separated by `;`, all with the same user (shared.broker)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    redis_url: str = "redis://127.0.0.1:6379/0"
    smtp_url: str = "smtp://127.0.0.1:1025"
    redis_prefix: str = ""  # prefixes every service's key namespace (tests sandbox themselves with it)
    log_format: str = "json"  # anything else: plain text lines, for a human at a terminal
    log_level: str = "INFO"
    # The bearer token of the operator endpoints (.env's OPERATOR_TOKEN); empty: they refuse everyone.
    operator_token: SecretStr = SecretStr("")
    # The Host names the web processes answer to (Flask's TRUSTED_HOSTS), comma-separated:
    # local mode's and the compose services' names; a leading dot admits every subdomain.
    trusted_hosts: Annotated[tuple[str, ...], NoDecode] = (
        "localhost",
        "127.0.0.1",
        "orders-api",
        "payments-api",
        "notifications-api",
        "dashboard-web",
        "loyalty-api",
    )

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return (
            tuple(name.strip() for name in value.split(",") if name.strip())
            if isinstance(value, str)
            else value
        )


class Settings(ShopSettings):
    """The settings of one service's process.

    `service` is given by the process (an argument always wins over the environment); it
    names the service's key namespace, its queues and its logs."""

    service: str

    @functools.cached_property
    def redis_namespace(self) -> str:  # cached: every key of every event starts with it
        return self.redis_prefix + self.service

    @functools.cached_property
    def amqp_user(self) -> str:
        """The broker user this process connects as, the same on every node AMQP_URL lists."""
        return broker_user(self.amqp_url)

    def key(self, *parts: object) -> str:
        """A Redis key inside this service's namespace: the service owns nothing else."""
        return ":".join([self.redis_namespace, *map(str, parts)])

    def connect_redis(self) -> Redis:
        """The service's Redis client (one pool per process), replies as text."""
        return Redis.from_url(
            self.redis_url,
            decode_responses=True,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )


class ConsumerSettings(Settings):
    """A service with a consumer process: how many unacked events it holds and how many threads
    run its handlers. Each service names the variables after itself (`ORDERS_CONSUMER_PREFETCH`)
    and states its defaults, since the right numbers depend on what its handlers do."""

    consumer_prefetch: int
    consumer_workers: int  # 0: handlers run on the connection's thread
