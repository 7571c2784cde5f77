"""Fail early, with the fix, when RabbitMQ or Redis is not answering."""

from __future__ import annotations

import sys

import redis

from shared.broker import blocking_connection
from shared.settings import ShopSettings

HOW_TO_START = {
    "RabbitMQ": "start it with `rabbitmq-server -detached` (Debian: apt-get install rabbitmq-server), "
    "or `docker compose up -d rabbitmq` where Docker runs",
    "Redis": "start it with `redis-server --daemonize yes` (Debian: apt-get install redis-server), "
    "or `docker compose up -d redis` where Docker runs",
}


def main() -> int:
    settings = ShopSettings()
    amqp_url, redis_url = settings.amqp_url, settings.redis_url
    problems = []
    try:
        blocking_connection(amqp_url).close()
    except Exception as exc:
        problems.append(("RabbitMQ", amqp_url, exc))
    try:
        redis.Redis.from_url(redis_url, socket_timeout=3).ping()
    except Exception as exc:
        problems.append(("Redis", redis_url, exc))
    for name, url, exc in problems:
        print(
            f"{name} is not answering at {url} ({exc.__class__.__name__}): {HOW_TO_START[name]}.",
            file=sys.stderr,
        )
    if not problems:
        print("RabbitMQ and Redis are answering.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
