"""Each service's broker user may do its own work and nothing else: the broker refuses the rest.

Real RabbitMQ, the users and permissions of infra/privileges.py as the sandbox grants them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
import pytest

from harness.sandbox import Sandbox
from infra.privileges import SERVICES, published_types
from shared.envelope import new_event
from shared.publisher import event_message
from tests.support import events

ACCESS_REFUSED = 403
PRECONDITION_FAILED = 406
# someone else's: the other services' queues, the ones every test below tries to touch
OTHER = {service: next(s for s in ("payments", "orders") if s != service) for service in SERVICES}


def refused(action: Callable[[], Any], code: int = ACCESS_REFUSED) -> str:
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refusal:
        action()
    assert refusal.value.reply_code == code, refusal.value
    return refusal.value.reply_text


def publish(channel: Any, event_type: str, user_id: str | None = None, exchange: str = "shop.events") -> None:
    message = event_message(events.of_type(event_type))
    message.properties.user_id = user_id
    channel.basic_publish(exchange, message.routing_key, message.body, message.properties, mandatory=True)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_publishes_only_its_own_event_types(service: str, as_user, shop_topology: Sandbox) -> None:
    channel = as_user(service)
    for event_type in published_types(service):
        publish(channel, event_type, shop_topology.user(service))
    foreign = "payment.authorized" if service != "payments" else "order.placed"
    assert "ACCESS_REFUSED" in refused(lambda: publish(channel, foreign, shop_topology.user(service)))


@pytest.mark.parametrize("service", SERVICES)
def test_a_forged_user_id_is_refused(service: str, as_user, shop_topology: Sandbox) -> None:
    channel = as_user(service)
    impostor = shop_topology.user(OTHER[service])
    # on an exchange it may write to with a routing key it may use: only the user_id is wrong
    own_type, exchange = (
        (published_types(service)[0], "shop.events")
        if published_types(service)
        else ("order.placed", "shop.dlx")
    )
    text = refused(lambda: publish(channel, own_type, impostor, exchange), PRECONDITION_FAILED)
    assert "user_id property set to" in text


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "action",
    [
        lambda ch, q: ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"}),
        lambda ch, q: ch.basic_consume(q, lambda *_: None),
        lambda ch, q: ch.basic_get(q),
        lambda ch, q: ch.queue_purge(q),
        lambda ch, q: ch.queue_delete(q),
        lambda ch, q: ch.queue_bind(q, "shop.events", "#"),
    ],
    ids=["declare", "consume", "get", "purge", "delete", "bind"],
)
def test_another_service_s_queues_are_out_of_reach(service: str, action, as_user) -> None:
    other = OTHER[service]
    for queue in (other, f"{other}.retry.1s", f"{other}.tasks"):
        refused(lambda queue=queue: action(as_user(service), queue))


@pytest.mark.parametrize("service", SERVICES)
def test_another_service_s_task_queue_and_the_default_exchange_take_nothing(service: str, as_user) -> None:
    for task_service in ("payments", "notifications"):
        if task_service != service:
            channel = as_user(service)
            refused(lambda ch=channel, t=task_service: ch.basic_publish(f"{t}.tasks", f"{t}.tasks", b"{}"))
    channel = as_user(service)
    refused(lambda: channel.basic_publish("", f"{OTHER[service]}", b"{}"))
    refused(lambda: as_user(service).basic_publish(f"{OTHER[service]}.retry", OTHER[service], b"{}"))


@pytest.mark.parametrize("service", SERVICES)
def test_the_shared_topology_is_infra_s(service: str, as_user) -> None:
    refused(lambda: as_user(service).exchange_delete("shop.events"))
    refused(lambda: as_user(service).queue_delete("shop.events.log"))


@pytest.mark.parametrize("service", ["orders", "payments", "notifications", "dashboard"])
def test_only_loyalty_reads_the_event_log(service: str, as_user) -> None:
    refused(lambda: as_user(service).basic_consume("shop.events.log", lambda *_: None))


def test_the_dashboard_reads_every_dlq_but_cannot_write_anywhere_but_its_own(as_user) -> None:
    channel = as_user("dashboard")
    for service in ("orders", "payments", "notifications", "loyalty"):
        channel.queue_declare(f"{service}.dlq", passive=True)
        assert channel.basic_get(f"{service}.dlq") == (None, None, None)
    refused(lambda: as_user("dashboard").basic_publish("shop.events", "order.placed", b"{}"))
    refused(lambda: as_user("dashboard").basic_publish("orders.retry", "orders", b"{}"))


def test_a_service_does_its_own_work(as_user, shop_topology: Sandbox) -> None:
    """The allowed side: its own queues, retries through its own exchange, parking in its DLQ."""
    channel = as_user("orders")
    channel.queue_declare("orders", passive=True)
    declined = {"order_id": str(uuid.uuid4()), "payment_id": str(uuid.uuid4()), "reason": "r"}
    body = new_event("payment.declined", declined, source="payments")
    properties = pika.BasicProperties(user_id=shop_topology.user("orders"))
    channel.basic_publish("orders.retry", "orders.retry.1s", body.to_json(), properties, mandatory=True)
    channel.basic_publish("shop.dlx", "orders", body.to_json(), properties, mandatory=True)
    assert channel.basic_get("orders.dlq", auto_ack=True)[2] == body.to_json()
    channel.queue_purge("orders.retry.1s")


def test_one_celery_service_cannot_reach_the_other_s_tasks_or_workers(as_user) -> None:
    """Celery's shared delay queues (declared by infra) take a service's delayed tasks only for
    its own task queue, and it cannot declare, read, purge or delete them; remote control lives
    on exchanges named after the service."""

    def send(user: str, exchange: str, routing_key: str) -> Callable[[], None]:
        return lambda: as_user(user).basic_publish(exchange, routing_key, b"{}")

    delay = "0." * 27 + "1."
    for service, other in (("payments", "notifications"), ("notifications", "payments")):
        for exchange in ("celery_delayed_27", "celery_delayed_0", "celery_delayed_delivery"):
            refused(send(service, exchange, f"{delay}{other}.tasks"))
            refused(send("orders", exchange, f"{delay}{other}.tasks"))
            refused(lambda s=service, e=exchange: as_user(s).exchange_declare(e, "topic", durable=True))
        for queue in ("celery_delayed_0", "celery_delayed_27"):
            refused(lambda s=service, q=queue: as_user(s).queue_declare(q, passive=False, durable=True))
            refused(lambda s=service, q=queue: as_user(s).basic_get(q))
            refused(lambda s=service, q=queue: as_user(s).queue_purge(q))
            refused(lambda s=service, q=queue: as_user(s).queue_delete(q))
        send(service, "celery_delayed_27", f"{delay}{service}.tasks")()
        # as kombu declares it (transient, not auto-delete); infra declared it already, for Flower
        as_user(service).exchange_declare(f"{service}.pidbox", "fanout", durable=False)
        refused(send(service, f"{other}.pidbox", ""))
        channel = as_user(service)
        refused(lambda channel=channel, other=other: channel.exchange_declare(f"{other}.pidbox", "fanout"))
