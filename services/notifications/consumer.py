"""The notifications consumer process: order outcomes → email tasks.

`python -m services.notifications.consumer`
"""

from __future__ import annotations

import sys

from services.notifications.app import SERVICE, create_app
from services.notifications.bootstrap import event_handlers
from services.notifications.tasks import enqueue_send
from shared.consumer import EventConsumer
from shared.logs import configure_logging
from shared.metrics import start_flusher
from shared.settings import env_int


def main() -> int:
    app = create_app()  # configures the Celery app that enqueue_send sends with
    configure_logging(SERVICE, "consumer")
    settings, redis = app.config["SETTINGS"], app.extensions["redis"]
    stop_flusher = start_flusher(redis, settings.key("metrics"))
    consumer = EventConsumer(
        SERVICE,
        event_handlers(settings, redis, enqueue_send),
        settings,
        prefetch=env_int("NOTIFICATIONS_CONSUMER_PREFETCH", 50),
        workers=env_int("NOTIFICATIONS_CONSUMER_WORKERS", 8),
    )
    consumer.run()
    stop_flusher.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
