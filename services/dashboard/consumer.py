"""The dashboard's consumer process: every event on the bus into the dashboard's live feed,
as anonymous browsers may see it (payment tokens dropped, emails masked: feed.append).

Its queue `dashboard` is bound to `#`: every event type, including ones added later, even
before `shared/contract.py` lists them (their data is shown as sent).
Run one replica or several: they compete for the queue and append to the same feed.
"""

from __future__ import annotations

import functools
import sys

from redis import Redis

from services.dashboard import feed
from services.dashboard.settings import SERVICE, DashboardSettings
from shared.bootstrap import Handlers
from shared.consumer import ANY_TYPE, run_service_consumer


def bootstrap(settings: DashboardSettings, redis: Redis) -> Handlers:
    """The dashboard's one handler, for every event type: append it to the feed."""
    return Handlers(events={ANY_TYPE: functools.partial(feed.append, redis, settings.key("feed"))})


if __name__ == "__main__":
    settings = DashboardSettings(service=SERVICE)
    sys.exit(run_service_consumer(settings, bootstrap))
