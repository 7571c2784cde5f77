"""The stack's secrets: `.env` at the repository root, random values made on this machine.

`make run` and `make dev` call this first. It creates `.env` when there is none and adds the
names a newer version of the shop needs to an existing one; a value already there is never
changed (the broker and Redis volumes hold users with those passwords). Every name is
documented in .env.example; docker compose reads the file for its `${NAME:?...}` variables.

ENV_FILE moves the file: the compose tests give their stack a file of its own that way, so
they never read or write a developer's `.env`.

    python -m infra.secrets     create .env, or add the names it lacks; prints what it did
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each service's own broker and Redis user: infra/privileges.py's SERVICES (tests/static
# checks it), not imported, so that creating .env does not load the shop's code.
SERVICES = ("orders", "payments", "notifications", "dashboard", "loyalty")
OPERATOR_NAMES = (
    # RabbitMQ management UI and Flower log in as `admin` with it.
    "RABBITMQ_ADMIN_PASSWORD",
    # Redis' `admin` user: the healthcheck, and `redis-cli --user admin` for an operator.
    "REDIS_ADMIN_PASSWORD",
    # Mailpit's UI and API log in as `mail` with it (in compose; local mode's sink has none).
    "MAILPIT_UI_PASSWORD",
    # The token of the services' operator endpoints.
    "OPERATOR_TOKEN",
    # CLUSTER=1: the shared secret with which the broker's nodes and their CLI tools
    # authenticate each other (the Erlang cookie).
    "RABBITMQ_ERLANG_COOKIE",
)


def password_variable(service: str, kind: str) -> str:
    """`<SERVICE>_AMQP_PASSWORD` or `<SERVICE>_REDIS_PASSWORD` (kind `AMQP` or `REDIS`)."""
    return f"{service.upper()}_{kind}_PASSWORD"


NAMES = (
    *(password_variable(service, kind) for service in SERVICES for kind in ("AMQP", "REDIS")),
    *OPERATOR_NAMES,
)

HEADER = """\
# Secrets of this machine's stack, made by `make run` / `make dev` (infra/secrets.py) with
# random values. Keep it out of version control (.gitignore has it); .env.example says what
# each name is for. After changing a value: `make down && make run` (README.md, Troubleshooting).
"""


def env_file(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("ENV_FILE") or ROOT / ".env")


def new_value() -> str:
    """32 URL-safe characters: usable as is in amqp:// and redis:// URLs, a Redis ACL rule
    (no space) and Mailpit's `user:password` (no colon), and never a compose `$`."""
    return secrets.token_urlsafe(24)


def read(path: Path) -> dict[str, str]:
    """The NAME=value lines of an env file, as docker compose reads the unquoted ones."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs if not name.lstrip().startswith("#")}


def ensure(path: Path) -> list[str]:
    """Create `path` with every name, or give a value to the names it lacks or leaves empty
    (a copy of .env.example); returns those written. A value already there stays."""
    present = read(path)
    missing = [name for name in NAMES if not present.get(name)]
    if not missing:
        return []
    values = {name: new_value() for name in missing}
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created unreadable to other users of the machine before a secret is written to it.
        path.touch(mode=0o600)
        path.write_text(HEADER + "".join(f"{name}={value}\n" for name, value in values.items()))
        return missing
    lines = path.read_text().splitlines()
    empty = {line.split("=", 1)[0].strip(): i for i, line in enumerate(lines) if line.rstrip().endswith("=")}
    for name, value in values.items():
        if name in empty:
            lines[empty[name]] = f"{name}={value}"
        else:
            lines.append(f"{name}={value}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # a copy of .env.example may have been readable by all
    return missing


def environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables docker compose interpolates with: the env file, overridden by `environ`."""
    return {**read(env_file(environ)), **environ}


def main() -> int:
    path = env_file()
    existed = path.exists()
    written = ensure(path)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not existed:
        print(f"created {shown} with random passwords (see .env.example)")
    elif written:
        print(f"added {', '.join(written)} to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
