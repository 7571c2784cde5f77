"""Read API of payments: what happened to the payment of an order (never its card token)."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, StringConstraints, ValidationError

from services.payments.model import Payment
from shared.openapi import Operation
from shared.web import invalid

api = Blueprint("payments_api", __name__, url_prefix="/api")

OrderId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class PaymentsQuery(BaseModel):
    """`?order_id=`: the order's id is what lets a client read its payment."""

    order_id: OrderId


@api.get("/payments")
def payments_of_order() -> Response:
    try:
        order_id = PaymentsQuery.model_validate(request.args.to_dict()).order_id
    except ValidationError as exc:
        return invalid(400, exc)
    payment = current_app.extensions["ledger"].get(order_id)
    return jsonify(
        order_id=order_id,
        gateway_charges=current_app.extensions["gateway"].charges(order_id),
        payments=[_public(payment)] if payment else [],
    )


def _public(payment: Payment) -> dict[str, object]:
    """`PaymentView`: the payment without the token it was charged with."""
    return {
        "order_id": payment.order_id,
        "payment_id": payment.payment_id or None,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "reason": payment.reason or None,
        "attempts": payment.attempts,
        "outcome_published": payment.published,
    }


class PaymentView(BaseModel):
    order_id: str
    payment_id: str | None
    status: str
    amount_cents: int
    currency: str
    reason: str | None
    attempts: int
    outcome_published: bool


class PaymentsOfOrder(BaseModel):
    order_id: str
    gateway_charges: int
    payments: list[PaymentView]


OPERATIONS = (
    Operation(
        "get",
        "/api/payments",
        "The payment of one order and how often the gateway charged it",
        {200: PaymentsOfOrder, 400: None},
        query=PaymentsQuery,
    ),
)
