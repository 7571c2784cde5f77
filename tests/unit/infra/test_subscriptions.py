"""The broker is told at boot exactly what each core consumer handles: one list, no stale binding.

A binding without a handler would dead-letter its events as unhandled; a handler without a
binding would never see its events before the consumer's first start."""

from __future__ import annotations

import pytest
from redis import Redis

from infra.stack import SUBSCRIPTIONS, core_topology
from services.notifications.bootstrap import event_handlers as notifications_handlers
from services.orders.bootstrap import bootstrap as orders_handlers
from services.payments.bootstrap import event_handlers as payments_handlers
from shared.settings import load_settings
from shared.topology import EVENTS_EXCHANGE, Binding

# A client that is never used: building the handlers registers scripts, it sends nothing.
IDLE_REDIS = Redis()
BUILT = {
    "orders": lambda settings: orders_handlers(settings, IDLE_REDIS),
    "payments": lambda settings: payments_handlers(settings, IDLE_REDIS, enqueue_charge=print),
    "notifications": lambda settings: notifications_handlers(settings, IDLE_REDIS, enqueue_send=print),
}


@pytest.mark.parametrize("service", SUBSCRIPTIONS)
def test_the_boot_bindings_are_the_event_types_the_consumer_handles(service):
    handled = set(BUILT[service](load_settings(service)))
    bound = {
        item.routing_key
        for item in core_topology()
        if isinstance(item, Binding) and item.exchange == EVENTS_EXCHANGE and item.queue == service
    }
    assert bound == handled == set(SUBSCRIPTIONS[service])
