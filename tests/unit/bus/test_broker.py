"""AMQP_URL (and the dashboard's MANAGEMENT_URL) may list a cluster's nodes: every client gets
all of them, starts at a random one, and notices a lost node within seconds."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import pytest

from services.dashboard.broker_map import Management, ManagementUnavailable
from shared.broker import DEFAULT_OPTIONS, broker_urls, broker_user, connection_parameters
from shared.celery_app import celery_app
from shared.settings import Settings

CLUSTER = (
    "amqp://orders:pw@rabbitmq-1:5672/%2F;"
    "amqp://orders:pw@rabbitmq-2:5672/%2F;"
    "amqp://orders:pw@rabbitmq-3:5672/%2F"
)
NODES = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]


def hosts(amqp_url: str) -> list[str]:
    return [parameters.host for parameters in connection_parameters(amqp_url)]


def test_a_list_is_split_on_semicolons_in_its_order() -> None:
    assert broker_urls(" amqp://a/%2F ; amqp://b/%2F;") == ["amqp://a/%2F", "amqp://b/%2F"]
    assert broker_urls("amqp://a/%2F") == ["amqp://a/%2F"]


def test_every_node_is_in_the_parameters_once_in_the_list_s_order_from_wherever_it_starts() -> None:
    listed_order = NODES * 2

    for _ in range(20):
        got = hosts(CLUSTER)
        start = listed_order.index(got[0])
        assert got == listed_order[start : start + len(NODES)]


def test_the_clients_of_a_cluster_start_at_every_one_of_its_nodes() -> None:
    # each start has 1/3 chance per call: all three appear in 60 calls but for a 1e-10 chance
    assert {hosts(CLUSTER)[0] for _ in range(60)} == set(NODES)


def test_a_lost_node_is_noticed_in_seconds_and_a_dead_one_skipped_after_one_short_attempt() -> None:
    for parameters in connection_parameters(CLUSTER, name="orders-relay"):
        assert parameters.heartbeat == DEFAULT_OPTIONS["heartbeat"] <= 10
        assert parameters.socket_timeout == DEFAULT_OPTIONS["socket_timeout"] <= 5
        assert parameters.stack_timeout == DEFAULT_OPTIONS["stack_timeout"] <= 10
        assert parameters.connection_attempts == 1
        assert parameters.client_properties == {"connection_name": "orders-relay"}


def test_what_a_url_sets_itself_wins_over_the_defaults() -> None:
    (parameters,) = connection_parameters("amqp://orders:pw@rabbitmq-1/%2F?heartbeat=30&socket_timeout=8")

    assert (parameters.heartbeat, parameters.socket_timeout) == (30, 8)
    assert parameters.stack_timeout == DEFAULT_OPTIONS["stack_timeout"]


def test_a_single_url_connects_where_it_always_did() -> None:
    url = "amqp://payments:s%40cret@broker:5673/shop"

    (parameters,) = connection_parameters(url)

    alone = pika.URLParameters(url)
    assert (parameters.host, parameters.port, parameters.virtual_host) == ("broker", 5673, "shop")
    assert parameters.credentials == alone.credentials
    assert parameters.client_properties is None  # unnamed: pika's own


def test_the_broker_user_is_the_first_url_s() -> None:
    listed = "amqp://orders:pw@rabbitmq-1/%2F;amqp://someone-else:pw@rabbitmq-2/%2F"

    assert broker_user(listed) == "orders"
    assert Settings(service="orders", amqp_url=listed).amqp_user == "orders"
    assert broker_user("amqp://shop%2Dorders:pw@broker/%2F") == "shop-orders"
    assert broker_user("amqp://broker/%2F") == "guest"


# ---- the dashboard's management client ---------------------------------------------------------


class ManagementNode:
    """A management API on a local port that answers every GET with an empty list (or object),
    or, silent, never answers; it records the paths asked."""

    def __init__(self, silent: bool = False) -> None:
        self.paths: list[str] = []
        self.released = threading.Event()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                node.paths.append(self.path)
                if silent:
                    node.released.wait(timeout=10)
                    return
                body = json.dumps({} if "/exchanges/" in self.path and "bindings" not in self.path else [])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def nodes() -> Iterator[list[ManagementNode]]:
    started = [ManagementNode(), ManagementNode(silent=True)]
    yield started
    for node in started:
        node.close()


def closed_port_url() -> str:
    """A management URL where nothing listens: the connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://guest:guest@127.0.0.1:{port}"


def test_the_management_client_asks_the_next_node_when_one_refuses(nodes: list[ManagementNode]) -> None:
    answering, _silent = nodes
    management = Management(
        f"{closed_port_url()};{answering.url}", "amqp://orders:pw@rabbitmq-1/shop;amqp://x"
    )

    state = management.state()

    assert (state.queues, state.exchange) == ([], {})
    assert answering.paths[0] == "/api/queues/shop"  # the vhost of the first AMQP URL
    assert len(answering.paths) == 5


def test_the_management_client_keeps_the_node_that_answered(nodes: list[ManagementNode]) -> None:
    answering, silent = nodes
    management = Management(
        f"{silent.url};{answering.url}", "amqp://guest:guest@rabbitmq-1/%2F", timeout_s=0.3
    )

    management.state()
    management.state()

    assert len(silent.paths) == 1  # timed out once; not asked again
    assert len(answering.paths) == 10


def test_the_management_api_is_unavailable_when_no_node_answers() -> None:
    management = Management(f"{closed_port_url()};{closed_port_url()}", "amqp://guest:guest@rabbitmq-1/%2F")

    with pytest.raises(ManagementUnavailable):
        management.state()


def test_celery_starts_at_a_random_node_and_rides_out_the_loss_of_one() -> None:
    conf = celery_app(Settings(service="unit", amqp_url=CLUSTER)).conf

    listed = broker_urls(CLUSTER)
    start = listed.index(broker_urls(conf.broker_url)[0])
    assert broker_urls(conf.broker_url) == listed[start:] + listed[:start]
    assert (conf.broker_failover_strategy, conf.broker_heartbeat) == ("shuffle", 5)
    assert conf.task_publish_retry_policy["max_retries"] >= 10
