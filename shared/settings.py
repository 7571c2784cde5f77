"""Configuration from the environment, the same in docker compose and in local mode."""

from __future__ import annotations

import os
from dataclasses import dataclass

from redis import Redis

# A stalled Redis fails a call instead of hanging it (a handler on a consumer's I/O thread
# would hold up heartbeats and shutdown); the longest blocking read (XREAD, 1 s) fits well.
REDIS_TIMEOUT_S = 10


@dataclass(frozen=True)
class Settings:
    service: str
    amqp_url: str
    redis_url: str
    smtp_url: str
    redis_namespace: str

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


def load_settings(service: str) -> Settings:
    return Settings(
        service=service,
        amqp_url=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        smtp_url=os.environ.get("SMTP_URL", "smtp://127.0.0.1:1025"),
        redis_namespace=os.environ.get("REDIS_PREFIX", "") + service,
    )


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))
