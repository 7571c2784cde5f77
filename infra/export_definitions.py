"""The broker definitions the compose broker boots with: topology, users, permissions.

The topology comes from infra/stack.core_topology (the same objects every process declares or
checks), the users and their permissions and topic permissions from infra/privileges.py (the
same rules local mode and the tests apply), the passwords from the secrets (`.env`, made by
`make run`). The file holds password hashes, each with a random salt, so it is generated when
the stack starts, never committed (infra/compose.py writes it next to the other generated
files); by hand:

    python -m infra.export_definitions PATH
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra import privileges
from infra.secrets import environment
from infra.stack import MissingPassword, amqp_password, core_topology
from shared.topology import to_definitions

VHOST = "/"
ADMIN = privileges.ADMIN


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's salted SHA-256 (rabbit_password_hashing_sha256), with a random 4-byte salt."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _user(name: str, password: str, tags: tuple[str, ...]) -> dict[str, Any]:
    return {
        "name": name,
        "password_hash": password_hash(password),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": list(tags),
        "limits": {},
    }


def _admin_password(environ: Mapping[str, str]) -> str:
    password = environ.get("RABBITMQ_ADMIN_PASSWORD")
    if not password:
        raise MissingPassword("RABBITMQ_ADMIN_PASSWORD is not set: `make run` writes it to .env")
    return password


def definitions(environ: Mapping[str, str]) -> dict[str, Any]:
    services = privileges.SERVICES
    users = [_user(ADMIN, _admin_password(environ), ("administrator",))]
    users += [_user(s, amqp_password(s, environ), privileges.TAGS.get(s, ())) for s in services]
    permissions = [{"user": ADMIN, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}]
    permissions += [{"user": s, "vhost": VHOST, **vars(privileges.broker_permissions(s))} for s in services]
    topic_permissions = [
        {"user": s, "vhost": VHOST, **vars(topic)}
        for s in services
        for topic in privileges.topic_permissions(s)
    ]
    return {
        "users": users,
        "vhosts": [{"name": VHOST}],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        **to_definitions(core_topology(), VHOST),
    }


def render(environ: Mapping[str, str]) -> str:
    return json.dumps(definitions(environ), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.rsplit("\n\n", 1)[1], file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.write_text(render(environment()))
    target.chmod(0o600)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
