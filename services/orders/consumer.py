"""The orders consumer process: payment outcomes settle orders (`python -m services.orders.consumer`)."""

from __future__ import annotations

import sys

from services.orders.bootstrap import bootstrap
from shared.consumer import run_service_consumer

SERVICE = "orders"

if __name__ == "__main__":
    # a transition is two Redis round trips: quicker on the connection's thread than handed to a pool
    sys.exit(run_service_consumer(SERVICE, bootstrap, workers=0))
