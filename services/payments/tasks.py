"""The payments Celery task: charge one order, by its id (shared.tasks makes it reliable)."""

from __future__ import annotations

from services.payments import bootstrap
from services.payments.gateway import GatewayUnavailable
from services.payments.model import ChargeInProgress
from shared.tasks import id_task, worker_handlers


# Retries outlast a flaky gateway (handlers.MAX_GATEWAY_ATTEMPTS bounds the gateway calls), a
# claim held by another task and a broker blip while announcing the outcome: with the backoff
# capped at 30 s and full jitter, the 40 retries span about ten minutes.
@id_task(task_id_prefix="charge", transient=(GatewayUnavailable, ChargeInProgress), retry_backoff_max_s=30)
def charge_order(order_id: str) -> str:
    return worker_handlers(bootstrap.bootstrap).commands["charge_order"](order_id)
