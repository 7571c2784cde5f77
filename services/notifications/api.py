"""Read API of notifications: what the customer was told about an order; and the operator's
knobs (every email's delay), which only the operator token may read or change."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, StringConstraints, ValidationError

from services.notifications.knobs import KnobChange, KnobValues
from services.notifications.model import CHANNEL, Notification
from shared.openapi import Operation
from shared.web import invalid, operator_only, refusal

api = Blueprint("notifications_api", __name__, url_prefix="/api")

OrderId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class NotificationsQuery(BaseModel):
    """`?order_id=`: the order's id is what lets a client read what its customer was told."""

    order_id: OrderId


@api.get("/notifications")
def notifications_of_order() -> Response:
    try:
        order_id = NotificationsQuery.model_validate(request.args.to_dict()).order_id
    except ValidationError as exc:
        return invalid(400, exc)
    found = current_app.extensions["notifications"].for_order(order_id)
    return jsonify(order_id=order_id, notifications=[_public(n) for n in found])


@api.get("/settings")
@operator_only
def knobs() -> Response:
    return jsonify(current_app.extensions["knobs"].current())


@api.put("/settings")
@operator_only
def change_knobs() -> Response:
    """Change knobs at run time, e.g. {"notify_delay_ms": 200} to slow every email down."""
    if not request.is_json:
        return refusal(415, "Content-Type", "must be application/json")
    try:
        change = KnobChange.model_validate_json(request.get_data(cache=False))
    except ValidationError as exc:
        return invalid(422, exc)
    return jsonify(current_app.extensions["knobs"].change(change))


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


class NotificationView(BaseModel):
    notification_id: str
    order_id: str
    channel: str
    template: str
    recipient: str
    status: str
    message_id: str
    sent_event_published: bool


class NotificationsOfOrder(BaseModel):
    order_id: str
    notifications: list[NotificationView]


OPERATIONS = (
    Operation(
        "get",
        "/api/notifications",
        "What the customer of one order was told",
        {200: NotificationsOfOrder, 400: None},
        query=NotificationsQuery,
    ),
    Operation("get", "/api/settings", "The knobs in force (an operator's)", {200: KnobValues}, operator=True),
    Operation(
        "put",
        "/api/settings",
        "Change knobs at run time (an operator's)",
        {200: KnobValues, 413: None, 415: None, 422: None},
        body=KnobChange,
        operator=True,
    ),
)
