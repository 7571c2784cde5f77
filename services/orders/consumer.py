"""The orders consumer process: payment outcomes settle orders (`python -m services.orders.consumer`)."""

from __future__ import annotations

import sys

from services.orders.bootstrap import bootstrap
from services.orders.settings import SERVICE, OrdersSettings
from shared.consumer import run_service_consumer

if __name__ == "__main__":
    settings = OrdersSettings(service=SERVICE)
    sys.exit(run_service_consumer(settings, bootstrap))
