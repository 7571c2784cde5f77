"""The dashboard's consumer process: every event on the bus into the dashboard's live feed.

Its queue `dashboard` is bound to `#`: every event type, including ones added later, even
before `shared/contract.py` lists them (their data is shown as sent).
Run one replica or several: they compete for the queue and append to the same feed.
"""

from __future__ import annotations

import functools
import sys

from redis import Redis

from services.dashboard import feed
from shared.consumer import ANY_TYPE, Handler, run_service_consumer
from shared.settings import Settings

SERVICE = "dashboard"


def bootstrap(settings: Settings, redis: Redis) -> dict[str, Handler]:
    record = functools.partial(feed.append, redis, settings.key("feed"))
    return {ANY_TYPE: record}


if __name__ == "__main__":
    # one XADD per event: quicker on the connection's thread than handed to a pool
    sys.exit(run_service_consumer(SERVICE, bootstrap, workers=0))
