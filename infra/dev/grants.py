"""The services' users on the developer's broker and Redis, as infra/privileges.py says.

`make dev` (and every test run, for its own vhost and user prefix) creates or updates them as
the administrator of AMQP_URL (RabbitMQ's management API) and of REDIS_URL (`ACL SETUSER`), and
the test sandbox deletes them afterwards. Local mode leaves the developer's own users, Redis'
`default` included, as they are. A broker on this machine also gets the largest message size
the compose broker has (infra/rabbitmq/rabbitmq.conf), until it restarts.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

from redis import Redis

from infra import privileges
from infra.stack import DEFAULT_AMQP_URL, DEFAULT_REDIS_URL, amqp_password, local_infra, service_password

log = logging.getLogger(__name__)
# The largest message the broker takes, as `max_message_size` in infra/rabbitmq/rabbitmq.conf:
# far above the largest event the contract allows, far below RabbitMQ's default (128 MiB).
MAX_MESSAGE_BYTES = 1024 * 1024


class BrokerAdmin:
    """The few calls of RabbitMQ's management API this needs, as the administrator of an AMQP URL."""

    def __init__(self, amqp_url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(amqp_url)
        self.vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._base = f"http://{parts.hostname or '127.0.0.1'}:15672/api"
        self.login = unquote(parts.username or "guest")
        login = f"{self.login}:{unquote(parts.password or 'guest')}"
        self._auth = "Basic " + base64.b64encode(login.encode()).decode()
        self._timeout_s = timeout_s
        self.is_local = parts.hostname in (None, "localhost", "127.0.0.1", "::1")

    def call(self, method: str, path: str, body: object = None) -> None:
        request = urllib.request.Request(
            self._base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self._timeout_s):
            pass

    def create_vhost(self) -> None:
        """The vhost, with every permission for the administrator itself (a test run's)."""
        vhost = quote(self.vhost, safe="")
        self.call("PUT", f"/vhosts/{vhost}", {})
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        self.call("PUT", f"/permissions/{vhost}/{quote(self.login, safe='')}", everything)

    def delete_vhost(self) -> None:
        self.call("DELETE", f"/vhosts/{quote(self.vhost, safe='')}")

    def put_user(self, user: str, password: str, service: str) -> None:
        """The user with the service's permissions and topic permissions on this vhost."""
        name, vhost = quote(user, safe=""), quote(self.vhost, safe="")
        tags = ",".join(privileges.TAGS.get(service, ()))
        self.call("PUT", f"/users/{name}", {"password": password, "tags": tags})
        permissions = privileges.broker_permissions(service)
        self.call("PUT", f"/permissions/{vhost}/{name}", vars(permissions))
        for topic in privileges.topic_permissions(service):
            self.call("PUT", f"/topic-permissions/{vhost}/{name}", vars(topic))

    def delete_user(self, user: str) -> None:
        try:
            self.call("DELETE", f"/users/{quote(user, safe='')}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise


def grant(environ: Mapping[str, str], services: Iterable[str] = privileges.SERVICES) -> None:
    """Create or update each service's broker user (on AMQP_URL's vhost) and Redis user."""
    infra = local_infra(environ)
    broker = BrokerAdmin(environ.get("AMQP_URL", DEFAULT_AMQP_URL))
    if broker.is_local:
        limit_message_size()
    redis = _admin_redis(environ)
    prefix = environ.get("REDIS_PREFIX", "")
    try:
        for service in services:
            user = infra.user(service)
            broker.put_user(user, amqp_password(service, environ), service)
            rule = privileges.redis_acl_rule(service, service_password(service, "REDIS", environ), prefix)
            redis.execute_command("ACL", "SETUSER", user, *rule.split())
    finally:
        redis.close()


def revoke(environ: Mapping[str, str], services: Iterable[str] = privileges.SERVICES) -> None:
    """Delete the users `grant` made (a test run's; local mode keeps the developer's)."""
    infra = local_infra(environ)
    broker = BrokerAdmin(environ.get("AMQP_URL", DEFAULT_AMQP_URL))
    redis = _admin_redis(environ)
    try:
        for service in services:
            broker.delete_user(infra.user(service))
            redis.execute_command("ACL", "DELUSER", infra.user(service))
    finally:
        redis.close()


@functools.cache  # once per process: the setting is the node's, not the vhost's
def limit_message_size(max_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """Set the running local node's `max_message_size` (rabbitmqctl: the management API has no call
    for it); a node this user may not administer (no Erlang cookie) keeps its own, with a warning."""
    command = ["rabbitmqctl", "-q", "eval", f"application:set_env(rabbit, max_message_size, {max_bytes})."]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not limit the broker's message size to %d bytes: %s", max_bytes, exc)


def _admin_redis(environ: Mapping[str, str]) -> Redis:
    return Redis.from_url(environ.get("REDIS_URL", DEFAULT_REDIS_URL))
