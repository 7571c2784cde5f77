"""The payments consumer process: order.placed → a charge task (`python -m services.payments.consumer`)."""

from __future__ import annotations

import sys

from services.payments.bootstrap import bootstrap
from services.payments.settings import SERVICE, PaymentsSettings
from services.payments.tasks import charge_order
from shared.celery_app import celery_app
from shared.consumer import run_service_consumer
from shared.publisher import Publisher

if __name__ == "__main__":
    settings = PaymentsSettings(service=SERVICE)
    celery_app(settings)  # how charge_order is sent: its exchange, serializer, headers
    tasks = Publisher(settings.amqp_url, name=f"{SERVICE}-tasks")
    sys.exit(run_service_consumer(settings, bootstrap, enqueue_charge=charge_order.sent_by(tasks)))
