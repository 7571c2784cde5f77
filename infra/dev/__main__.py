"""`python -m infra.dev`: the command line of local mode (see the package's docstring)."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

import infra.dev
from infra import secrets
from infra.dev.stack import DevError, LocalStack
from infra.stack import MissingPassword, local_infra


def enable_management_plugin(environ: Mapping[str, str]) -> None:
    """The dashboard and Flower read queue depths from the management API: make sure it is on."""
    host = urlsplit(local_infra(environ).amqp_url_template).hostname or "127.0.0.1"
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex((host, 15672)) == 0:
            return
    if host not in ("127.0.0.1", "localhost") or not shutil.which("rabbitmq-plugins"):
        print(
            f"note: the RabbitMQ management API is not answering on {host}:15672; enable it with "
            "`rabbitmq-plugins enable rabbitmq_management`"
        )
        return
    print("enabling the RabbitMQ management plugin (rabbitmq-plugins enable rabbitmq_management)")
    result = subprocess.run(
        ["rabbitmq-plugins", "enable", "rabbitmq_management"], capture_output=True, text=True
    )
    if result.returncode != 0:
        print(f"note: could not enable it ({result.stderr.strip() or result.stdout.strip()})")


def main(argv: list[str] | None = None) -> int:
    summary = infra.dev.__doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m infra.dev", description=summary)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start supervisord and every process; wait until ready")
    commands.add_parser("down", help="stop every process and supervisord")
    commands.add_parser("ps", help="the state of every process")
    logs = commands.add_parser("logs", help="every process's log, prefixed by its name")
    logs.add_argument("--once", action="store_true", help="print what is there and return")
    for name in ("stop", "start"):
        commands.add_parser(name, help=f"{name} a service or one process type").add_argument("target")
    scale = commands.add_parser("scale", help="run N replicas of a scalable process type")
    scale.add_argument("target")
    scale.add_argument("count", type=int)
    args = parser.parse_args(argv)

    # the services' passwords: `make dev` writes them to .env (infra/secrets.py); the environment wins
    environ = secrets.environment()
    stack = LocalStack(environ) if args.command == "up" else LocalStack.attach(environ)
    try:
        if args.command == "up":
            enable_management_plugin(stack.environ)
            stack.up()
            print("\nThe stack runs as local processes (supervisord):")
            for label, url in stack.urls():
                print(f"  {label:<26} {url}")
            print("\n`make logs` follows the logs, `make ps` lists the processes, `make down` stops them.")
            return 0
        if args.command == "down":
            stack.shutdown()
            return 0
        if not stack.running():
            raise DevError("the local stack is not running: start it with `make dev`")
        if args.command == "ps":
            print(stack.status_table())
        elif args.command == "logs":
            stack.follow_logs(follow=not args.once)
        elif args.command == "stop":
            stack.stop(args.target)
        elif args.command == "start":
            stack.start(args.target)
            stack.wait_ready(args.target)
        elif args.command == "scale":
            stack.scale(args.target, args.count)
            stack.wait_ready(args.target)
        return 0
    except (DevError, MissingPassword) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `make logs | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silences the flush at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
