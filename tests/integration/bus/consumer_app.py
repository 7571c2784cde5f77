"""A consumer process for the bus tests, run as `python -m tests.integration.bus.consumer_app`.

Its handler applies one effect per event through `apply_once` and reports progress in
Redis (inside the sandbox's prefix). While the `hold` key exists, the handler waits
after the effect until the test pushes to `release`, so a test can kill or stop the
process at the worst moment: effect applied, message not yet acked.
"""

from __future__ import annotations

from redis import Redis

from shared.consumer import EventConsumer
from shared.envelope import Event
from shared.idempotency import apply_once
from shared.settings import Settings

SERVICE = "bustest"


def main() -> None:
    settings = Settings(service=SERVICE)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)

    def record(event: Event) -> None:
        redis.incr(settings.key("attempts", event.id))
        apply_once(
            redis,
            settings.key("processed", event.id),
            lambda tx: tx.rpush(settings.key("effects"), event.id),
        )
        redis.rpush(settings.key("applied"), event.id)
        if redis.exists(settings.key("hold")):
            redis.blpop([settings.key("release")], timeout=60)
        redis.rpush(settings.key("finished"), event.id)

    EventConsumer(SERVICE, {"order.placed": record}, settings, workers=2).run()


if __name__ == "__main__":
    main()
