"""The dashboard's consumer process: every event on the bus into the dashboard's live feed.

Its queue `dashboard` is bound to `#` (every event type, including ones added later).
Run one replica or several: they compete for the queue and append to the same feed.
"""

from __future__ import annotations

import functools

from redis import Redis

from services.dashboard import feed
from shared import topology
from shared.consumer import EventConsumer, Handler
from shared.contract import EVENT_TYPES
from shared.logs import configure_logging
from shared.metrics import start_flusher
from shared.settings import Settings, load_settings

SERVICE = "dashboard"


def bootstrap(settings: Settings) -> tuple[Redis, dict[str, Handler]]:
    redis = Redis.from_url(settings.redis_url)
    record = functools.partial(feed.append, redis, settings.key("feed"))
    return redis, dict.fromkeys(EVENT_TYPES, record)


def main() -> None:
    settings = load_settings(SERVICE)
    configure_logging(SERVICE, "consumer")
    redis, handlers = bootstrap(settings)
    start_flusher(redis, settings.key("metrics"))
    consumer = EventConsumer(SERVICE, handlers, settings)
    consumer.topology = topology.service_topology(SERVICE, ["#"])  # observe everything, not a list
    consumer.run()


if __name__ == "__main__":
    main()
