"""Where the brokers are: `AMQP_URL` names one, or a cluster's nodes separated by `;`.

The `;` list is Celery's own failover syntax, so one variable configures every client: pika's
connections get the parameters of every node here (a `BlockingConnection` tries each in turn,
the Publisher moves to the next one on every reconnect). Each list starts at a random node, so
a cluster's clients spread over its nodes. A node cut off from the network (no RST, packets
dropped) is noticed within seconds by a short heartbeat instead of pika's usual 60 s, and one
that does not answer is skipped after a short connect timeout: one attempt per node, since the
callers already retry with backoff.
"""

from __future__ import annotations

import random
from urllib.parse import parse_qs, unquote, urlsplit

import pika

# Applied unless the URL's query sets them (`?heartbeat=30`).
DEFAULT_OPTIONS = {
    # seconds; pika drops a node it heard nothing from for heartbeat + 5 s (checked that often)
    "heartbeat": 5,
    "socket_timeout": 3,  # TCP connect
    "stack_timeout": 5,  # TCP connect and AMQP handshake: a node that accepts but never answers
    "connection_attempts": 1,
}


def broker_urls(url_list: str) -> list[str]:
    """The URLs of a `;`-separated list (a single URL is a list of one), in its order."""
    return [url.strip() for url in url_list.split(";") if url.strip()]


def broker_user(amqp_url: str) -> str:
    """The broker user every URL of the list names, taken from the first (AMQP's default,
    `guest`, if it names none)."""
    return unquote(urlsplit(broker_urls(amqp_url)[0]).username or "guest")


def spread(urls: list[str]) -> list[str]:
    """The same nodes, starting at a random one: a cluster's clients spread over its nodes."""
    start = random.randrange(len(urls))
    return urls[start:] + urls[:start]


def connection_parameters(amqp_url: str, name: str | None = None) -> list[pika.URLParameters]:
    """pika's parameters for every node, starting at a random one; `name` is the connection's
    name in the broker's management UI (and the dashboard's map)."""
    return [_node_parameters(url, name) for url in spread(broker_urls(amqp_url))]


def blocking_connection(amqp_url: str, name: str | None = None) -> pika.BlockingConnection:
    """A connection to the first node of the list that answers."""
    return pika.BlockingConnection(connection_parameters(amqp_url, name))


def _node_parameters(url: str, name: str | None) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    set_in_url = parse_qs(urlsplit(url).query)
    for option, value in DEFAULT_OPTIONS.items():
        if option not in set_in_url:
            setattr(parameters, option, value)
    if name is not None:
        parameters.client_properties = {"connection_name": name}
    return parameters
