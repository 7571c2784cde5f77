"""The dashboard's broker and Redis paths against the real RabbitMQ and Redis, in a sandbox:
peeking into and replaying a dead-letter queue, and the Redis feed that keeps recent history
and fans events out to every browser session.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pika
import pika.data
import pytest
from redis import Redis

from harness.sandbox import REDIS_URL, Sandbox
from harness.waiting import wait_until
from services.dashboard import feed
from services.dashboard.dead_letters import DeadLetterQueues, NoSuchQueue, describe
from shared import topology
from shared.envelope import Event, decode, new_event
from tests.support.events import ORDER_ID, order_placed, unlisted

SERVICE = "billing"  # any subscriber: the dashboard knows none by name


def confirmed(order_id: str) -> Event:
    data = {"order_id": order_id, "customer_email": "ada@example.com", "total_cents": 100}
    return new_event("order.confirmed", data, source="orders")


@pytest.fixture
def channel(sandbox: Sandbox):
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    channel = connection.channel()
    topology.declare(channel, topology.service_topology(SERVICE, ["order.confirmed"]))
    channel.confirm_delivery()
    yield channel
    connection.close()


def dead_letter(channel, body: bytes, message_id: str | None, reason: str = "exhausted") -> None:
    headers = {"x-death-reason": reason, "x-error": "TimeoutError: gateway", "x-attempt": 4}
    properties = pika.BasicProperties(message_id=message_id, headers=headers, delivery_mode=2)
    channel.basic_publish(topology.DEAD_LETTER_EXCHANGE, SERVICE, body, properties, mandatory=True)


def depth(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def test_peeking_shows_reasons_and_leaves_the_messages_in_place(sandbox: Sandbox, channel) -> None:
    event = confirmed(ORDER_ID)
    dead_letter(channel, event.to_json(), event.id)
    dead_letter(channel, b"not json", None, reason="invalid")

    count, letters = DeadLetterQueues(sandbox.amqp_url).peek(SERVICE)

    assert count == 2
    assert [(letter.reason, letter.order_id) for letter in letters] == [
        ("exhausted", ORDER_ID),
        ("invalid", None),
    ]
    # returned when the peek's connection closed (a quorum queue takes a moment to requeue)
    wait_until(lambda: depth(channel, topology.dead_letter_queue(SERVICE)) == 2, 10, 0.05, "requeued")


def test_replaying_one_message_moves_only_it_back_to_the_service_queue(sandbox: Sandbox, channel) -> None:
    kept, replayed = confirmed(str(uuid.uuid4())), confirmed(str(uuid.uuid4()))
    dead_letter(channel, kept.to_json(), kept.id)
    dead_letter(channel, replayed.to_json(), replayed.id)

    assert DeadLetterQueues(sandbox.amqp_url).replay(SERVICE, replayed.id) == 1

    def back() -> tuple | None:
        method, properties, body = channel.basic_get(SERVICE, auto_ack=True)
        return method and (properties, body)

    properties, body = wait_until(back, 10, 0.05, "the message back in the service queue")
    assert body == replayed.to_json()
    assert properties.message_id == replayed.id
    # moved by the broker (rejected from the DLQ): the properties as they were, the move recorded
    assert describe(properties.headers, body).replays == 1
    assert depth(channel, topology.dead_letter_queue(SERVICE)) == 1


def test_a_dead_task_is_replayed_to_the_task_queue(sandbox: Sandbox, channel) -> None:
    topology.declare(channel, topology.task_topology(SERVICE))
    properties = pika.BasicProperties(message_id="charge-o-1", headers={"task": "charge"}, delivery_mode=2)
    key = f"{SERVICE}.tasks"  # the task queue's dead-letter routing key
    channel.basic_publish(topology.DEAD_LETTER_EXCHANGE, key, b"[]", properties, mandatory=True)

    assert DeadLetterQueues(sandbox.amqp_url).replay(SERVICE) == 1

    wait_until(lambda: depth(channel, f"{SERVICE}.tasks") == 1, 10, 0.05, "the task back in its queue")
    assert depth(channel, SERVICE) == 0


def test_replaying_all_empties_the_dead_letter_queue(sandbox: Sandbox, channel) -> None:
    for _ in range(3):
        event = confirmed(str(uuid.uuid4()))
        dead_letter(channel, event.to_json(), event.id)

    assert DeadLetterQueues(sandbox.amqp_url).replay(SERVICE) == 3

    assert depth(channel, topology.dead_letter_queue(SERVICE)) == 0
    wait_until(lambda: depth(channel, SERVICE) == 3, 10, 0.05, "every message back in the service queue")


def test_a_service_without_dead_letter_queue_is_reported_as_such(sandbox: Sandbox) -> None:
    with pytest.raises(NoSuchQueue):
        DeadLetterQueues(sandbox.amqp_url).peek("nobody")


def test_recent_history_is_the_newest_events_of_the_feed_in_order(sandbox: Sandbox) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{sandbox.redis_prefix}dashboard:feed"
    events = [confirmed(str(uuid.uuid4())) for _ in range(30)]
    for event in events:
        feed.append(redis, key, event)
    until = feed.last_id(redis, key)
    feed.append(redis, key, confirmed(str(uuid.uuid4())))  # after `until`: the live part

    history = feed.recent(redis, key, until, since_ms=int((time.time() - 60) * 1000), limit=10)
    nothing_yet = feed.recent(redis, key, until, since_ms=int((time.time() + 60) * 1000), limit=10)

    assert [e.id for e in history] == [e.id for e in events[-10:]]
    assert nothing_yet == []


def test_the_feed_keeps_no_payment_token_and_no_whole_email(sandbox: Sandbox) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{sandbox.redis_prefix}dashboard:feed"
    before = feed.last_id(redis, key)

    feed.append(redis, key, order_placed("tok_visa"))

    [(_entry_id, stored)] = redis.xrange(key)
    assert "tok_visa" not in stored["event"] and "ada@example.com" not in stored["event"]
    _after, [shown] = feed.follow(redis, key, before, block_ms=100)
    assert shown.data.model_dump()["customer_email"] == "a***@example.com"
    assert "payment_token" not in shown.data.model_dump()


def test_an_entry_no_event_can_be_read_from_is_passed_over(sandbox: Sandbox) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{sandbox.redis_prefix}dashboard:feed"
    before = feed.last_id(redis, key)
    for junk in ("not json", "[1]", '{"type": "order.placed"}', "9" * 5000, "[" * 100_000):
        redis.xadd(key, {"event": junk, "source": "x", "type": "x"})
    redis.xadd(key, {"no event": "at all"})
    feed.append(redis, key, confirmed(ORDER_ID))

    after, events = feed.follow(redis, key, before, block_ms=100)

    assert [e.data.model_dump()["order_id"] for e in events] == [ORDER_ID]
    assert after == feed.last_id(redis, key)


def test_the_feed_hands_appended_events_to_every_follower(sandbox: Sandbox) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{sandbox.redis_prefix}dashboard:feed"
    before = feed.last_id(redis, key)
    events = [confirmed(str(uuid.uuid4())), confirmed(str(uuid.uuid4()))]
    for event in events:
        feed.append(redis, key, event)

    first = feed.follow(redis, key, before, block_ms=100)
    second = feed.follow(redis, key, before, block_ms=100)

    assert [e.id for e in first[1]] == [e.id for e in second[1]] == [e.id for e in events]
    assert feed.follow(redis, key, first[0], block_ms=50) == (first[0], [])
    assert feed.publish_rates(redis, key) == {"orders": 0.2}


def test_the_feed_shows_a_type_the_contract_does_not_list_yet(sandbox: Sandbox) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{sandbox.redis_prefix}dashboard:feed"
    before = feed.last_id(redis, key)
    feed.append(redis, key, decode(unlisted(), any_type=True))

    _after, [shown] = feed.follow(redis, key, before, block_ms=100)

    assert (shown.type, shown.data.model_dump()) == ("points.awarded", {"order_id": ORDER_ID, "points": 12})


def test_a_dead_letter_with_a_timestamp_header_out_of_range_is_shown_and_replayed(
    sandbox: Sandbox, channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pika would raise decoding it and drop the connection (shared/wire.py): the panel shows it."""
    event = confirmed(str(uuid.uuid4()))
    with monkeypatch.context() as hostile:  # the only way pika writes such a header
        hostile.setattr(pika.data.calendar, "timegm", lambda _time: 2**63)
        headers = {"x-death-reason": "forged", "x-first-death-at": datetime.now(UTC)}
        properties = pika.BasicProperties(message_id=event.id, headers=headers, delivery_mode=2)
        channel.basic_publish(topology.DEAD_LETTER_EXCHANGE, SERVICE, event.to_json(), properties)

    count, [letter] = DeadLetterQueues(sandbox.amqp_url).peek(SERVICE)

    assert (count, letter.reason, letter.order_id) == (1, "forged", event.data.order_id)
    wait_until(lambda: depth(channel, topology.dead_letter_queue(SERVICE)) == 1, 10, 0.05, "requeued")
    assert DeadLetterQueues(sandbox.amqp_url).replay(SERVICE) == 1
