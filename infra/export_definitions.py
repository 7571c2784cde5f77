"""Write infra/rabbitmq/definitions.json: the topology, users and permissions the compose broker boots with.

The topology comes from shared/topology.py (the same objects every process declares), so a
broker started from this file and one set up by the processes themselves are identical.
Passwords come from the environment or .env (see .env.example); the committed file holds
the defaults, and tests/static checks that it is up to date:

    python -m infra.export_definitions
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.stack import REDIS_DB, ROOT, amqp_password, core_topology
from shared.topology import to_definitions

DEFINITIONS = ROOT / "infra" / "rabbitmq" / "definitions.json"
VHOST = "/"
ADMIN = "admin"


def password_hash(user: str, password: str) -> str:
    """RabbitMQ's salted SHA-256 (rabbit_password_hashing_sha256).

    The salt is derived from the user name so the exported file is reproducible; the
    passwords themselves are the secret, and they stay in .env.
    """
    salt = hashlib.sha256(f"shop:{user}".encode()).digest()[:4]
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _user(name: str, password: str, tags: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "password_hash": password_hash(name, password),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": tags,
        "limits": {},
    }


def _permissions(user: str) -> dict[str, str]:
    return {"user": user, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}


def definitions(environ: Mapping[str, str]) -> dict[str, Any]:
    topology = core_topology()
    admin_password = environ.get("RABBITMQ_ADMIN_PASSWORD", ADMIN)
    users = [_user(ADMIN, admin_password, ["administrator"])]
    # The dashboard reads queue depths and consumers from the management API.
    tags = {"dashboard": ["monitoring"]}
    users += [_user(service, amqp_password(service, environ), tags.get(service, [])) for service in REDIS_DB]
    return {
        "users": users,
        "vhosts": [{"name": VHOST}],
        "permissions": [_permissions(user["name"]) for user in users],
        **to_definitions(topology, VHOST),
    }


def render(environ: Mapping[str, str]) -> str:
    return json.dumps(definitions(environ), indent=2, sort_keys=True) + "\n"


def read_dotenv(path: Path) -> dict[str, str]:
    """The KEY=value lines of a .env file (what docker compose reads too)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.lstrip().startswith("#")}


def main() -> None:
    DEFINITIONS.write_text(render({**read_dotenv(ROOT / ".env"), **os.environ}))
    print(f"wrote {DEFINITIONS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
