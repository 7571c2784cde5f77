"""The architecture map, built from what the broker's management API reports."""

from __future__ import annotations

from services.dashboard.broker_map import BrokerState, build_map, split_label


def connection(address: str, name: str | None = None) -> dict:
    return {"name": address, "client_properties": {"connection_name": name} if name else {}}


def consumer(queue: str, address: str) -> dict:
    return {"queue": {"name": queue}, "channel_details": {"connection_name": address}}


def queue(name: str, messages: int = 0, consumers: int = 0, **stats: float) -> dict:
    return {
        "name": name,
        "messages": messages,
        "consumers": consumers,
        "message_stats": {f"{k}_details": {"rate": v} for k, v in stats.items()},
    }


def binding(destination: str, key: str) -> dict:
    return {
        "source": "shop.events",
        "destination": destination,
        "destination_type": "queue",
        "routing_key": key,
    }


def shop_state(payments_running: bool = True) -> BrokerState:
    connections = [
        connection("c-relay", "orders-relay"),
        connection("c-orders", "orders-consumer"),
        connection("c-celery", None),
        connection("c-pub-1", "payments-worker"),
        connection("c-pub-2", "payments-worker"),
    ]
    consumers = [consumer("orders", "c-orders")]
    if payments_running:
        connections.append(connection("c-pay", "payments-consumer"))
        consumers += [consumer("payments", "c-pay"), consumer("payments.tasks", "c-celery")]
    return BrokerState(
        queues=[
            queue("orders", consumers=1, publish=2.0, ack=2.0),
            queue("payments", messages=0 if payments_running else 7, consumers=int(payments_running)),
            queue("payments.tasks", consumers=int(payments_running)),
            queue("payments.dlq", messages=2),
            queue("payments.retry.5s", messages=1),
            queue("shop.events.log", messages=1234),
        ],
        consumers=consumers,
        connections=connections,
        bindings=[
            binding("orders", "payment.authorized"),
            binding("orders", "payment.declined"),
            binding("payments", "order.placed"),
            binding("shop.events.log", "#"),
        ],
        exchange={"message_stats": {"publish_in_details": {"rate": 5.5}}},
    )


def subscriber(shop_map: dict, service: str) -> dict:
    return next(s for s in shop_map["subscribers"] if s["service"] == service)


def test_subscribers_are_the_queues_bound_to_the_exchange() -> None:
    shop_map = build_map(shop_state(), {})

    assert [s["service"] for s in shop_map["subscribers"]] == ["orders", "payments"]
    assert subscriber(shop_map, "orders")["bindings"] == ["payment.authorized", "payment.declined"]
    assert shop_map["log"] == {"name": "shop.events.log", "messages": 1234, "exists": True}
    assert shop_map["exchange"]["rate_in"] == 5.5


def test_a_running_service_shows_its_processes_rates_retries_and_dead_letters() -> None:
    payments = subscriber(build_map(shop_state(), {}), "payments")
    orders = subscriber(build_map(shop_state(), {}), "orders")

    assert payments["status"] == "up"
    # the Celery worker counts once although each pool child opened a named publisher connection
    assert payments["processes"] == [{"name": "consumer", "replicas": 1}, {"name": "worker", "replicas": 1}]
    assert (payments["retrying"], payments["dead_letters"]) == (1, 2)
    assert payments["tasks"] == {"name": "payments.tasks", "depth": 0, "consumers": 1}
    assert (orders["queue"]["rate_in"], orders["queue"]["rate_out"]) == (2.0, 2.0)


def test_a_stopped_service_is_down_with_its_queue_filling() -> None:
    payments = subscriber(build_map(shop_state(payments_running=False), {}), "payments")

    assert payments["status"] == "down"
    assert payments["queue"]["depth"] == 7
    assert payments["queue"]["consumers"] == 0


def test_a_service_whose_worker_is_gone_is_degraded() -> None:
    state = shop_state()
    state.consumers.remove(consumer("payments.tasks", "c-celery"))
    state.queues[2]["consumers"] = 0

    assert subscriber(build_map(state, {}), "payments")["status"] == "degraded"


def test_a_new_subscriber_appears_by_itself() -> None:
    state = shop_state()
    state.queues.append(queue("loyalty", consumers=1))
    state.bindings.append(binding("loyalty", "order.confirmed"))
    state.connections.append(connection("c-loyal", "loyalty-consumer"))
    state.consumers.append(consumer("loyalty", "c-loyal"))

    loyalty = subscriber(build_map(state, {}), "loyalty")

    assert loyalty["status"] == "up"
    assert loyalty["processes"] == [{"name": "consumer", "replicas": 1}]


def test_producers_are_services_seen_publishing_or_holding_publish_only_connections() -> None:
    shop_map = build_map(shop_state(), {"payments": 1.5})

    assert [(p["service"], p["rate"]) for p in shop_map["producers"]] == [("orders", 0.0), ("payments", 1.5)]
    orders = shop_map["producers"][0]
    assert {"name": "relay", "replicas": 1} in orders["processes"]


def test_an_empty_vhost_gives_an_empty_map() -> None:
    shop_map = build_map(BrokerState([], [], [], [], {}), {})

    assert shop_map["subscribers"] == shop_map["producers"] == []
    assert shop_map["exchange"]["exists"] is False


def test_connection_labels_split_into_service_and_process() -> None:
    assert split_label("payments-consumer") == ("payments", "consumer")
    assert split_label("smtp-sink-worker") == ("smtp-sink", "worker")
    assert split_label("") is None
    assert split_label("publisher") is None
