"""The notifications consumer process: order outcomes → email tasks.

`python -m services.notifications.consumer`
"""

from __future__ import annotations

import sys

from services.notifications.bootstrap import bootstrap
from services.notifications.settings import SERVICE, NotificationsSettings
from services.notifications.tasks import send_notification
from shared.celery_app import celery_app
from shared.consumer import run_service_consumer
from shared.publisher import Publisher

if __name__ == "__main__":
    settings = NotificationsSettings(service=SERVICE)
    celery_app(settings)  # how send_notification is sent: its exchange, serializer, headers
    tasks = Publisher(settings.amqp_url, name=f"{SERVICE}-tasks")
    sys.exit(run_service_consumer(settings, bootstrap, enqueue_send=send_notification.sent_by(tasks)))
