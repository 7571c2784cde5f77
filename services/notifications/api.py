"""Read API of notifications: what the customer was told about an order."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from services.notifications.knobs import InvalidKnob
from services.notifications.model import CHANNEL, Notification

api = Blueprint("notifications_api", __name__, url_prefix="/api")


@api.get("/notifications")
def notifications_of_order() -> Response | tuple[Response, int]:
    order_id = request.args.get("order_id", "").strip()
    if not order_id:
        return jsonify(error="Bad Request", field="order_id", detail="query parameter is required"), 400
    found = current_app.extensions["notifications"].for_order(order_id)
    return jsonify(order_id=order_id, notifications=[_public(n) for n in found])


@api.get("/settings")
def knobs() -> Response:
    return jsonify(current_app.extensions["knobs"].current())


@api.put("/settings")
def change_knobs() -> Response | tuple[Response, int]:
    """Change knobs at run time, e.g. {"notify_delay_ms": 200} to slow every email down."""
    try:
        return jsonify(current_app.extensions["knobs"].change(request.get_json(silent=True)))
    except InvalidKnob as invalid:
        return jsonify(error="Unprocessable Entity", field=invalid.field, detail=invalid.reason), 422


def _public(notification: Notification) -> dict[str, object]:
    return {
        "notification_id": notification.notification_id,
        "order_id": notification.order_id,
        "channel": CHANNEL,
        "template": notification.template,
        "recipient": notification.recipient,
        "status": notification.status,
        "message_id": notification.message_id,
        "sent_event_published": notification.published,
    }
