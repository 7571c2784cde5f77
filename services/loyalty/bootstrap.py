"""Wire the handlers to their dependencies (cosmicpython's bootstrap)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from services.loyalty.handlers import HANDLERS
from services.loyalty.points import LoyaltyStore
from shared.envelope import Event
from shared.settings import Settings, load_settings

SERVICE = "loyalty"


def bootstrap(settings: Settings | None = None) -> tuple[LoyaltyStore, dict[str, Callable[[Event], None]]]:
    settings = settings or load_settings(SERVICE)
    store = LoyaltyStore(settings.connect_redis(), settings)
    handlers = {event_type: functools.partial(fn, store=store) for event_type, fn in HANDLERS.items()}
    return store, handlers
