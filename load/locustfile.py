"""`make load`: a Locust load test of the order API, the way shoppers use it.

Most visitors browse the catalog, some place an order (mostly cards that authorize, a
few declined or flaky ones) and then poll it until it is confirmed or cancelled.
Headless with a summary by default; `make load UI=1` opens Locust's web UI on :8089.
"""

from __future__ import annotations

import random
import time

from locust import FastHttpUser, between, task

from infra import secrets

TOKENS = ["tok_visa"] * 8 + ["tok_chargeDeclined", "tok_flaky"]
TERMINAL = {"CONFIRMED", "CANCELLED"}
POLL_ATTEMPTS = 20
# Listing every order is an operator's: the stack's token, from the environment or .env.
OPERATOR = {"Authorization": f"Bearer {secrets.environment().get('OPERATOR_TOKEN', '')}"}


class Shopper(FastHttpUser):
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        products = self.client.get("/api/catalog").json()
        self.skus = [p["sku"] for p in (products["products"] if isinstance(products, dict) else products)]

    @task(5)
    def browse_catalog(self) -> None:
        self.client.get("/api/catalog")

    @task(2)
    def place_order_and_follow_it(self) -> None:
        items = [{"sku": sku, "qty": random.randint(1, 3)} for sku in random.sample(self.skus, k=2)]
        body = {
            "customer_email": f"shopper{random.randint(1, 500)}@example.com",
            "items": items,
            "payment_token": random.choice(TOKENS),
        }
        with self.client.post("/api/orders", json=body, catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"expected 202, got {response.status_code}")
                return
            order_id = response.json()["id"]
        for _ in range(POLL_ATTEMPTS):
            time.sleep(0.25)
            status = self.client.get(f"/api/orders/{order_id}", name="/api/orders/[id]").json()["status"]
            if status in TERMINAL:
                return

    @task(1)
    def list_recent_orders(self) -> None:
        self.client.get("/api/orders?limit=20", name="/api/orders?limit", headers=OPERATOR)
