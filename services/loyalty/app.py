"""Loyalty's web process: points per customer, plus the common ops endpoints. The leaderboard
lists every customer's email, so it is an operator's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel

from services.loyalty.bootstrap import SERVICE
from services.loyalty.points import LoyaltyStore
from shared.openapi import Operation
from shared.settings import Settings
from shared.web import create_service_app, operator_only

api = Blueprint("loyalty", __name__)


class Account(BaseModel):
    email: str
    points: int
    orders_placed: int
    orders_confirmed: int


class Leaderboard(BaseModel):
    customers: list[Account]
    stats: dict[str, int]


class CustomerPath(BaseModel):
    email: str


OPERATIONS = (
    Operation(
        "get", "/api/points/{email}", "One customer's points", {200: Account}, path_params=CustomerPath
    ),
    Operation(
        "get", "/api/points", "Every customer's points (an operator's)", {200: Leaderboard}, operator=True
    ),
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(Settings(service=SERVICE), config, OPERATIONS)
    app.extensions["loyalty"] = LoyaltyStore(app.extensions["redis"], app.config["SETTINGS"])
    app.register_blueprint(api)
    return app


@api.get("/api/points/<email>")
def points(email: str) -> Response:
    store = current_app.extensions["loyalty"]
    return jsonify(email=email.lower(), **store.account(email))


@api.get("/api/points")
@operator_only
def leaderboard() -> Response:
    store = current_app.extensions["loyalty"]
    customers = [{"email": email, **store.account(email)} for email in store.customers()]
    return jsonify(customers=customers, stats=store.stats())
