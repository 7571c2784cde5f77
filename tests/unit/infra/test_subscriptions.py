"""The broker is told at boot exactly what each core consumer handles: one list, no stale binding.

A binding without a handler would dead-letter its events as unhandled; a handler without a
binding would never see its events before the consumer's first start."""

from __future__ import annotations

import pytest
from redis import Redis

from infra.stack import SUBSCRIPTIONS, core_topology
from services.notifications import bootstrap as notifications
from services.notifications.settings import NotificationsSettings
from services.orders import bootstrap as orders
from services.orders.settings import OrdersSettings
from services.payments import bootstrap as payments
from services.payments.settings import PaymentsSettings
from shared.topology import EVENTS_EXCHANGE, Binding

# A client that is never used: building the handlers registers scripts, it sends nothing.
IDLE_REDIS = Redis()
WIRED = {
    "orders": lambda: orders.bootstrap(OrdersSettings(service="orders"), IDLE_REDIS),
    "payments": lambda: payments.bootstrap(PaymentsSettings(service="payments"), IDLE_REDIS),
    "notifications": lambda: notifications.bootstrap(
        NotificationsSettings(service="notifications"), IDLE_REDIS
    ),
}


@pytest.mark.parametrize("service", SUBSCRIPTIONS)
def test_the_boot_bindings_are_the_event_types_the_consumer_handles(service):
    handled = set(WIRED[service]().events)
    bound = {
        item.routing_key
        for item in core_topology()
        if isinstance(item, Binding) and item.exchange == EVENTS_EXCHANGE and item.queue == service
    }
    assert bound == handled == set(SUBSCRIPTIONS[service])
