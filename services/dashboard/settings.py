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
    management_url: str = "http://guest:guest@127.0.0.1:15672"
    dashboard_history_window_s: int = 15 * 60
    dashboard_history_max_events: int = 5000

    @property
    def orders_api(self) -> str:
        return self.orders_url or f"http://127.0.0.1:{self.orders_port}"
