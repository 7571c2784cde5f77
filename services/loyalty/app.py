"""Loyalty's web process: points per customer, plus the common ops endpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from services.loyalty.bootstrap import SERVICE
from services.loyalty.points import LoyaltyStore
from shared.settings import Settings
from shared.web import create_service_app

api = Blueprint("loyalty", __name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(Settings(service=SERVICE), config)
    app.extensions["loyalty"] = LoyaltyStore(app.extensions["redis"], app.config["SETTINGS"])
    app.register_blueprint(api)
    return app


@api.get("/api/points/<email>")
def points(email: str):
    store = current_app.extensions["loyalty"]
    return jsonify(email=email.lower(), **store.account(email))


@api.get("/api/points")
def leaderboard():
    store = current_app.extensions["loyalty"]
    customers = [{"email": email, **store.account(email)} for email in store.customers()]
    return jsonify(customers=customers, stats=store.stats())
