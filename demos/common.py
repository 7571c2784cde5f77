"""What the demos share: where the stack is, narration, stack control, figures and plots.

Every demo drives a stack that is already running, the way a person would: `make
stop/start/scale SERVICE=...`, the services' public HTTP APIs, the broker (a passive
queue_declare reads a queue's depth without changing anything) and the SMTP sink's
Mailpit-compatible API. The same code therefore runs against `make dev` and `make run`.
Placing orders (harness/load.py) and watching the broker (harness/probe.py) are shared
with the tests.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import launcher
from harness.mail import Mailbox
from harness.probe import http_ok
from harness.waiting import wait_until
from infra import compose, secrets
from infra.dev.stack import LocalStack
from infra.stack import DEFAULT_AMQP_URL

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
PORTS = {"dashboard": 8000, "orders": 8001, "payments": 8002, "notifications": 8003, "loyalty": 8004}


class DemoError(Exception):
    """Something the person running the demo can fix; printed without a traceback."""


# --- where things are ------------------------------------------------------------------------


def url(service: str) -> str:
    """Where a service answers: its port of docs/architecture.md, moved by <SERVICE>_PORT if set."""
    host = os.environ.get("SHOP_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get(service.upper() + '_PORT', PORTS[service])}"


def mail_url() -> str:
    """The SMTP sink's API; in compose, Mailpit's, with its login (.env) in the URL."""
    port = os.environ.get("SMTP_SINK_HTTP_PORT", 8025)
    if mode() == "compose":
        return f"http://mail:{_secrets()['MAILPIT_UI_PASSWORD']}@127.0.0.1:{port}"
    return f"http://127.0.0.1:{port}"


def operator_headers() -> dict[str, str]:
    """What an operator action sends (notifications' knobs, loyalty's leaderboard): the
    stack's OPERATOR_TOKEN, from the environment or .env."""
    return {"Authorization": f"Bearer {_secrets().get('OPERATOR_TOKEN', '')}"}


@functools.cache
def _secrets() -> dict[str, str]:
    """The stack's secrets (.env, overridden by the environment), read once: the mail count is polled."""
    return secrets.environment()


def smtp_url() -> str:
    return f"smtp://127.0.0.1:{os.environ.get('SMTP_SINK_PORT', 1025)}"


@functools.cache
def mode() -> str:
    """`compose` or `local`, decided like the Makefile does (MODE wins, else: does Docker answer?)."""
    if os.environ.get("MODE") in ("compose", "local"):
        return os.environ["MODE"]
    try:
        docker = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "local"
    return "compose" if docker.returncode == 0 else "local"


def broker_url() -> str:
    """The broker as an operator sees it: AMQP_URL in local mode, the admin user in compose."""
    if os.environ.get("DEMO_AMQP_URL"):
        return os.environ["DEMO_AMQP_URL"]
    if mode() == "compose":
        password = _secrets()["RABBITMQ_ADMIN_PASSWORD"]
        return f"amqp://admin:{password}@127.0.0.1:{os.environ.get('RABBITMQ_PORT', 5672)}/%2F"
    return os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)


# --- talking to the person and to scripts ------------------------------------------------


def say(message: str) -> None:
    """Narration and progress, on stderr so stdout ends with the JSON figures."""
    print(message, file=sys.stderr, flush=True)


def report(lines: Iterable[str]) -> None:
    """The narrated report: on stdout, before the final JSON line."""
    print("\n".join(lines), flush=True)


def emit(figures: dict[str, Any], name: str) -> None:
    """Save the figures and print them as the last line, one JSON object."""
    folder = artifacts(name)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures), flush=True)


def artifacts(name: str) -> Path:
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_demo(main: Callable[[], None]) -> None:
    """Run a demo's main; a DemoError becomes one readable line and exit status 2."""
    try:
        main()
    except DemoError as error:
        say(f"error: {error}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


# --- driving the stack -----------------------------------------------------------------------


def make(target: str, **variables: str | int) -> None:
    """Drive the stack through the same make targets a person would type."""
    launcher.make(target, *(f"{name}={value}" for name, value in variables.items()), failure=DemoError)


def answers(service: str) -> bool:
    return http_ok(url(service) + "/readyz", timeout=2)


def require_stack(*services: str) -> None:
    """Stop early, and say what to do, when the stack the demo drives is not running."""
    silent = [s for s in services if not answers(s)]
    if silent:
        where = ", ".join(f"{s} ({url(s)})" for s in silent)
        raise DemoError(
            f"no running stack answers: {where} did not reply to /readyz. "
            "The demos drive a running stack: start it with `make run` (or `make dev`), then try again."
        )


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until `condition()` is truthy; a DemoError at the deadline."""
    return wait_until(condition, timeout, interval, what, failure=DemoError)


def service_processes(service: str) -> dict[str, str]:
    """`pid@start time` of each running process of a service: a restart changes it."""
    if mode() == "compose":
        ids = compose.run("ps", "--quiet", "--status", "running").split()
        if not ids:
            return {}
        inspect = subprocess.run(
            ["docker", "inspect", "--format", "{{.Name}} {{.State.Pid}}@{{.State.StartedAt}}", *ids],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        rows = dict(line.split(" ", 1) for line in inspect if line.strip())
        return {name.lstrip("/"): started for name, started in rows.items() if f"-{service}-" in name}
    states = LocalStack.attach().states()  # local mode: supervisord knows the pids
    return {
        name: f"{info['pid']}@{info['start']}"
        for name, info in states.items()
        if name.startswith(f"{service}:") and info["statename"] == "RUNNING"
    }


# --- mail ----------------------------------------------------------------------------------


def mail_count() -> int:
    return Mailbox(mail_url()).count()


def emails_by_order() -> dict[str, int]:
    """How many emails the SMTP sink (local sink or Mailpit) received per order id."""
    return dict(collections.Counter(mail.order_id for mail in Mailbox(mail_url()).list()))
