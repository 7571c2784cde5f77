"""The orders consumer process: payment outcomes settle orders (`python -m services.orders.consumer`)."""

from __future__ import annotations

import sys

from redis import Redis

from services.orders.bootstrap import bootstrap
from shared.consumer import EventConsumer
from shared.logs import configure_logging
from shared.metrics import start_flusher
from shared.settings import env_int, load_settings

SERVICE = "orders"


def main() -> int:
    settings = load_settings(SERVICE)
    configure_logging(SERVICE, "consumer")
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    stop_flusher = start_flusher(redis, settings.key("metrics"))
    consumer = EventConsumer(
        SERVICE,
        bootstrap(settings, redis),
        settings,
        prefetch=env_int("ORDERS_CONSUMER_PREFETCH", 50),
        workers=env_int("ORDERS_CONSUMER_WORKERS", 8),
    )
    consumer.run()
    stop_flusher.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
