"""What the dashboard processes read from the environment besides the shared settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings

SERVICE = "dashboard"


class DashboardSettings(ConsumerSettings):
    consumer_prefetch: int = Field(50, validation_alias="DASHBOARD_CONSUMER_PREFETCH")
    # one XADD per event: quicker on the connection's thread than handed to a pool
    consumer_workers: int = Field(0, validation_alias="DASHBOARD_CONSUMER_WORKERS")
    orders_url: str = ""  # the public orders API the shop page forwards to; empty: on this host, ORDERS_PORT
    orders_port: int = 8001
    # one node's management API, or a cluster's nodes separated by `;` (broker_map.Management)
    management_url: str = "http://guest:guest@127.0.0.1:15672"
    dashboard_history_window_s: int = 15 * 60
    dashboard_history_max_events: int = 5000
    # Each live stream holds one of the web process's threads (32: DASHBOARD_THREADS in
    # infra/Procfile) for up to STREAM_MAX_S; the threads past the cap serve the page and the API.
    dashboard_max_streams: int = Field(24, ge=1)
    # Jaeger's query API, where the journey view reads an order's trace; empty: from the events alone
    jaeger_query_url: str = ""
    jaeger_ui_url: str = ""  # where a browser opens a trace; empty: the query URL

    @property
    def orders_api(self) -> str:
        return self.orders_url or f"http://127.0.0.1:{self.orders_port}"
