"""Event handlers: plain functions, dependencies injected by bootstrap()."""

from __future__ import annotations

import logging

from services.loyalty.points import LoyaltyStore
from shared.envelope import Event

log = logging.getLogger(__name__)


def count_placed_order(event: Event, store: LoyaltyStore) -> None:
    store.record_order_placed(event.data)


def award_points(event: Event, store: LoyaltyStore) -> None:
    if not store.award_points(event.data):
        log.info("order %s already credited", event.data.order_id)
