"""The payments consumer process: order.placed → a charge task (`python -m services.payments.consumer`)."""

from __future__ import annotations

import functools
import sys

from services.payments.app import SERVICE, create_app
from services.payments.bootstrap import event_handlers
from services.payments.tasks import enqueue_charge
from shared.consumer import run_service_consumer

if __name__ == "__main__":
    create_app()  # configures the Celery app that enqueue_charge sends with
    sys.exit(run_service_consumer(SERVICE, functools.partial(event_handlers, enqueue_charge=enqueue_charge)))
