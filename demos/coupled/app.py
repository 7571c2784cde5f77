"""ANTI-PATTERN: three tiny Flask apps that call each other over HTTP (see __init__)."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from urllib.parse import urlparse

import requests
from flask import Flask, jsonify, request
from redis import Redis

from shared.settings import Settings

PRICES_CENTS = {"espresso": 250, "cappuccino": 350, "croissant": 220}


class CoupledSettings(Settings):
    coupled_call_timeout_s: float = 2.0
    coupled_payments_url: str = "http://127.0.0.1:8012"
    coupled_notifications_url: str = "http://127.0.0.1:8013"


SETTINGS = CoupledSettings(service="coupled")


def _redis() -> Redis:
    return Redis.from_url(SETTINGS.redis_url, decode_responses=True)


def _key(*parts: str) -> str:
    return SETTINGS.key(*parts)


def create_orders_app() -> Flask:
    """Stores an order only if payments and notifications both answered in time."""
    app = Flask("coupled-orders")
    redis = _redis()
    http = requests.Session()
    payments_url = SETTINGS.coupled_payments_url
    notifications_url = SETTINGS.coupled_notifications_url

    @app.get("/api/catalog")
    def catalog():
        return jsonify(
            products=[{"sku": sku, "unit_price_cents": cents} for sku, cents in PRICES_CENTS.items()]
        )

    @app.post("/api/orders")
    def place_order():
        body = request.get_json(force=True)
        order_id = str(uuid.uuid4())
        total = sum(PRICES_CENTS.get(i["sku"], 100) * int(i["qty"]) for i in body["items"])
        try:
            charge = http.post(
                f"{payments_url}/charge",
                json={"order_id": order_id, "amount_cents": total, "token": body["payment_token"]},
                timeout=SETTINGS.coupled_call_timeout_s,
            )
            charge.raise_for_status()
            status = "CONFIRMED" if charge.json()["authorized"] else "CANCELLED"
            http.post(
                f"{notifications_url}/send",
                json={"order_id": order_id, "email": body["customer_email"], "status": status},
                timeout=SETTINGS.coupled_call_timeout_s,
            ).raise_for_status()
        except requests.RequestException as exc:
            return jsonify(error="upstream unavailable", detail=str(exc)), 502
        redis.hset(_key("orders"), order_id, status)
        return jsonify(id=order_id, status=status), 201

    @app.get("/api/orders/<order_id>")
    def get_order(order_id: str):
        status = redis.hget(_key("orders"), order_id)
        return (jsonify(id=order_id, status=status), 200) if status else (jsonify(error="not found"), 404)

    @app.get("/readyz")
    def readyz():
        return jsonify(status="ready")

    return app


def create_payments_app() -> Flask:
    app = Flask("coupled-payments")
    redis = _redis()

    @app.post("/charge")
    def charge():
        body = request.get_json(force=True)
        authorized = body["token"] != "tok_chargeDeclined"
        if authorized:
            redis.hincrby(_key("charges"), body["order_id"], 1)
        return jsonify(authorized=authorized)

    @app.get("/api/payments")
    def payments_of_order():
        """Same shape as the real payments API, so the demo reads both ledgers alike."""
        order_id = request.args.get("order_id", "")
        return jsonify(order_id=order_id, gateway_charges=int(redis.hget(_key("charges"), order_id) or 0))

    @app.get("/readyz")
    def readyz():
        return jsonify(status="ready")

    return app


def create_notifications_app() -> Flask:
    app = Flask("coupled-notifications")
    smtp = urlparse(SETTINGS.smtp_url)

    @app.post("/send")
    def send():
        body = request.get_json(force=True)
        message = EmailMessage()
        message["From"] = "shop@example.com"
        message["To"] = body["email"]
        message["Subject"] = f"Order {body['order_id']} {body['status'].lower()} (coupled)"
        message["Message-ID"] = f"<{body['order_id']}.order_{body['status'].lower()}@coupled.shop>"
        message.set_content("Sent synchronously inside the customer's request.")
        with smtplib.SMTP(smtp.hostname, smtp.port or 25, timeout=SETTINGS.coupled_call_timeout_s) as client:
            client.send_message(message)
        return jsonify(sent=True)

    @app.get("/readyz")
    def readyz():
        return jsonify(status="ready")

    return app
