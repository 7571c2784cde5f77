"""Settings come from the environment under the variables' own names, once, with one default each."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.dashboard.settings import DashboardSettings
from services.notifications.settings import NotificationsSettings
from services.orders.settings import OrdersSettings
from services.payments.settings import PaymentsSettings
from shared.settings import Settings, ShopSettings


def test_the_shared_variables_are_read_under_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://shop:secret@broker:5672/%2F")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("SMTP_URL", "smtp://mail:1025")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    settings = Settings(service="payments")

    assert settings.amqp_url == "amqp://shop:secret@broker:5672/%2F"
    assert (settings.redis_url, settings.smtp_url, settings.log_level) == (
        "redis://cache:6379/2",
        "smtp://mail:1025",
        "DEBUG",
    )


def test_keys_live_in_the_service_namespace_after_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PREFIX", "test-1:")

    assert Settings(service="payments").key("payment", "o-1") == "test-1:payments:payment:o-1"


def test_the_service_is_the_process_s_own_never_a_service_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE", "loyalty")  # as `make start SERVICE=loyalty` exports it

    assert Settings(service="payments").service == "payments"


def test_a_setting_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(service="payments", redis_namespace="payments")


def test_settings_do_not_change_once_read() -> None:
    settings = ShopSettings()

    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"


@pytest.mark.parametrize(
    ("settings_class", "variable", "value", "field", "expected"),
    [
        (OrdersSettings, "ORDERS_RELAY_BATCH", "7", "orders_relay_batch", 7),
        (OrdersSettings, "ORDERS_RELAY_CLAIM_IDLE_MS", "500", "orders_relay_claim_idle_ms", 500),
        (OrdersSettings, "ORDERS_CONSUMER_WORKERS", "3", "consumer_workers", 3),
        (PaymentsSettings, "PAYMENTS_CONSUMER_PREFETCH", "9", "consumer_prefetch", 9),
        (PaymentsSettings, "GATEWAY_LATENCY_MS", "5000", "gateway_latency_ms", 5000),
        (PaymentsSettings, "GATEWAY_FAILURE_RATE", "0.25", "gateway_failure_rate", 0.25),
        (NotificationsSettings, "NOTIFICATIONS_CONSUMER_WORKERS", "2", "consumer_workers", 2),
        (NotificationsSettings, "NOTIFY_DELAY_MS", "200", "notify_delay_ms", 200),
        (
            NotificationsSettings,
            "NOTIFY_SENDER",
            "Shop <s@example.com>",
            "notify_sender",
            "Shop <s@example.com>",
        ),
        (NotificationsSettings, "NOTIFY_RATE_LIMIT", "100/s", "notify_rate_limit", "100/s"),
        (DashboardSettings, "MANAGEMENT_URL", "http://d:p@mq:15672", "management_url", "http://d:p@mq:15672"),
        (DashboardSettings, "DASHBOARD_HISTORY_WINDOW_S", "60", "dashboard_history_window_s", 60),
        (DashboardSettings, "DASHBOARD_HISTORY_MAX_EVENTS", "10", "dashboard_history_max_events", 10),
        (DashboardSettings, "DASHBOARD_CONSUMER_PREFETCH", "5", "consumer_prefetch", 5),
    ],
)
def test_a_service_reads_its_own_variables(
    monkeypatch: pytest.MonkeyPatch,
    settings_class: type[Settings],
    variable: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)

    assert getattr(settings_class(service="any"), field) == expected


def test_the_dashboard_finds_the_orders_api_by_url_or_else_by_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_PORT", "18001")
    assert DashboardSettings(service="dashboard").orders_api == "http://127.0.0.1:18001"

    monkeypatch.setenv("ORDERS_URL", "http://orders-api:8001")
    assert DashboardSettings(service="dashboard").orders_api == "http://orders-api:8001"
