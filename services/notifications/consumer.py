"""The notifications consumer process: order outcomes → email tasks.

`python -m services.notifications.consumer`
"""

from __future__ import annotations

import functools
import sys

from services.notifications.app import SERVICE, create_app
from services.notifications.bootstrap import event_handlers
from services.notifications.tasks import enqueue_send
from shared.consumer import run_service_consumer

if __name__ == "__main__":
    create_app()  # configures the Celery app that enqueue_send sends with
    sys.exit(run_service_consumer(SERVICE, functools.partial(event_handlers, enqueue_send=enqueue_send)))
