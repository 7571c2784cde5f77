"""The payments use cases as plain functions; bootstrap() injects what they need.

`request_payment` handles the `order.placed` event (in the consumer process) and only
records the request and enqueues the charge: the slow, failure-prone gateway call runs
in a Celery task, `charge_order`, which the worker may run any number of times for the
same order (retries, redeliveries, duplicate tasks) with one charge and one outcome event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from services.payments.gateway import GatewayUnavailable, SimulatedGateway
from services.payments.ledger import Ledger
from services.payments.model import Payment
from shared.envelope import Event
from shared.logs import log_context

log = logging.getLogger(__name__)
MAX_GATEWAY_ATTEMPTS = 8


def request_payment(event: Event, *, ledger: Ledger, enqueue_charge: Callable[[str], None]) -> None:
    """order.placed → remember what to charge, then hand the charge to the worker.

    Always enqueue, also for a redelivered event: the consumer may have died between
    storing and enqueueing, and a charge task for a settled order is a no-op.
    """
    payment = Payment.requested_by(event)
    if not ledger.add(payment):
        log.info("payment of order %s was already requested", payment.order_id)
    enqueue_charge(payment.order_id)


def charge_order(
    order_id: str,
    *,
    ledger: Ledger,
    gateway: SimulatedGateway,
    publish: Callable[[Event], None],
    max_attempts: int = MAX_GATEWAY_ATTEMPTS,
) -> str:
    """Charge once, record the outcome, announce it; returns what happened.

    Raises GatewayUnavailable (the task retries it with backoff) until the gateway was
    tried `max_attempts` times; then the payment is declined as `gateway_unavailable`,
    so the order still reaches an end state. Raises ChargeInProgress while another task
    holds the order.
    """
    with ledger.claim(order_id) as payment:
        if payment is None:
            log.error("no payment was requested for order %s", order_id)
            return "unknown"
        if payment.published:
            return "duplicate"
        with log_context(order_id=order_id, correlation_id=payment.correlation_id):
            if not payment.settled:
                payment = _charge(payment, ledger, gateway, max_attempts)
            # `payment` is as stored after settling: a task that outlived its claim finds it published
            if not payment.published:
                publish(payment.outcome_event())
                ledger.mark_published(order_id)
            log.info("payment of order %s %s", order_id, payment.status)
    return payment.status


def _charge(payment: Payment, ledger: Ledger, gateway: SimulatedGateway, max_attempts: int) -> Payment:
    attempt = ledger.count_attempt(payment.order_id)
    try:
        result = gateway.charge(payment.order_id, payment.token, payment.amount_cents, payment.currency)
    except GatewayUnavailable as exc:
        if attempt < max_attempts:
            raise
        log.error("gateway still unavailable for order %s, declining: %s", payment.order_id, exc)
        settled = payment.settle(False, str(uuid.uuid4()), "gateway_unavailable")
    else:
        settled = payment.settle(result.approved, result.payment_id, result.reason)
    return ledger.settle(settled)
