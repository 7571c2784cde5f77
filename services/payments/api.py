"""Read API of payments: what happened to the payment of an order."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from services.payments.model import Payment

api = Blueprint("payments_api", __name__, url_prefix="/api")


@api.get("/payments")
def payments_of_order() -> Response | tuple[Response, int]:
    order_id = request.args.get("order_id", "").strip()
    if not order_id:
        return jsonify(error="Bad Request", field="order_id", detail="query parameter is required"), 400
    payment = current_app.extensions["ledger"].get(order_id)
    return jsonify(
        order_id=order_id,
        gateway_charges=current_app.extensions["gateway"].charges(order_id),
        payments=[_public(payment)] if payment else [],
    )


def _public(payment: Payment) -> dict[str, object]:
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
