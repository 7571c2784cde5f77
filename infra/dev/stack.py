"""A running local stack: supervisord and its processes, driven through its XML-RPC API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit
from xmlrpc.client import Fault, ServerProxy

from supervisor.xmlrpc import SupervisorTransport

from harness.probe import http_ok
from harness.waiting import wait_until
from infra.dev import grants
from infra.dev.config import MAX_REPLICAS, supervisord_config
from infra.dev.logs import follow_logs
from infra.stack import (
    ADDED_LATER,
    DEFAULT_AMQP_URL,
    ROOT,
    Infra,
    Process,
    core_topology,
    local_infra,
    procfile,
)
from shared import topology

READY_TIMEOUT_S = 60.0
RUNNING_STATES = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
DOWN_STATES = {"STOPPED", "EXITED", "FATAL", "UNKNOWN"}
HTTP_PORT = re.compile(r"(?:--bind \S*:|--http-port )\$\{(\w+_PORT):-(\d+)\}")
# What `up` was given that later commands (start, scale, ps) must see the same way.
STACK_VARIABLES = re.compile(
    r"^(RUN_DIR|AMQP_URL|REDIS_URL|REDIS_PREFIX|SHOP_USER_PREFIX|LOG_FORMAT|\w+_PORT)$"
)


class DevError(Exception):
    """A failure the developer can act on; printed without a traceback."""


def run_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("RUN_DIR", ROOT / ".run")).resolve()


def http_port(process: Process, environ: Mapping[str, str]) -> int | None:
    """The HTTP port a process serves /readyz on (the `${X_PORT:-default}` of its Procfile line)."""
    match = HTTP_PORT.search(process.command)
    return int(environ.get(match.group(1), match.group(2))) if match else None


class LocalStack:
    """The processes of `make dev`, driven through supervisord's XML-RPC API: the one way the
    shop's processes are started, by `make dev`, the tests, the demos and the benchmark."""

    def __init__(self, environ: Mapping[str, str] = os.environ, autorestart: bool = True) -> None:
        self.environ = dict(environ)
        self.autorestart = autorestart
        self.dir = run_dir(self.environ)
        self.processes = procfile()
        self.config = self.dir / "supervisord.conf"
        self.replicas_file = self.dir / "replicas.json"
        self.environ_file = self.dir / "environment.json"

    @classmethod
    def attach(cls, environ: Mapping[str, str] = os.environ) -> LocalStack:
        """The stack that `up` started in RUN_DIR, seen with the ports and broker it was given."""
        saved = cls(environ).environ_file
        return cls({**environ, **(json.loads(saved.read_text()) if saved.exists() else {})})

    @property
    def rpc(self):
        """supervisord's XML-RPC API (a fresh connection: a failed one cannot be reused)."""
        transport = SupervisorTransport(None, None, f"unix://{self.dir}/supervisor.sock")
        return ServerProxy("http://127.0.0.1", transport=transport).supervisor

    @property
    def infra(self) -> Infra:
        return local_infra(self.environ)

    # supervisord itself

    def running(self) -> bool:
        try:
            return self.rpc.getState()["statename"] == "RUNNING"
        except (OSError, Fault, HTTPException):
            return False

    def boot(self) -> None:
        """Start supervisord with a config generated from the Procfile (restarted if it changed)."""
        wanted = supervisord_config(self.processes.values(), self.dir, self.environ, self.autorestart)
        if self.running() and self.config.read_text() != wanted:
            print("infra/Procfile or the environment changed: restarting supervisord")
            self.shutdown()
        if self.running():
            return
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.config.write_text(wanted)
        given = {key: value for key, value in self.environ.items() if STACK_VARIABLES.match(key)}
        self.environ_file.write_text(json.dumps(given, indent=2))
        subprocess.run(
            [str(Path(sys.executable).parent / "supervisord"), "--configuration", str(self.config)],
            check=True,
            cwd=ROOT,
            env={**self.environ, "PYTHONPATH": str(ROOT)},
        )
        self._wait(self.running, 10, "supervisord to answer")

    def shutdown(self) -> None:
        if not self.running():
            return
        pid = self.supervisord_pid()
        self.rpc.shutdown()
        self._wait(lambda: not _pid_alive(pid), 60, "supervisord to stop its processes")

    def supervisord_pid(self) -> int:
        return int((self.dir / "supervisord.pid").read_text())

    # what runs

    def wanted_replicas(self) -> dict[str, int]:
        saved = json.loads(self.replicas_file.read_text()) if self.replicas_file.exists() else {}
        return {name: saved.get(name, 1) for name, p in self.processes.items() if p.scalable}

    def instances(self, process: Process, count: int | None = None) -> list[str]:
        """supervisord names of a process type's instances (the first `count` of them)."""
        if not process.scalable:
            return [f"{process.service}:{process.name}"]
        count = MAX_REPLICAS if count is None else count
        return [f"{process.service}:{process.name}-{index}" for index in range(count)]

    def resolve(self, target: str) -> list[Process]:
        """A service name → its processes; a process type → itself."""
        if target in self.processes:
            return [self.processes[target]]
        matched = [p for p in self.processes.values() if p.service == target]
        if not matched:
            known = sorted({p.service for p in self.processes.values()} | set(self.processes))
            raise DevError(f"unknown service or process type {target!r}; one of: {', '.join(known)}")
        return matched

    def states(self) -> dict[str, dict]:
        return {f"{info['group']}:{info['name']}": info for info in self.rpc.getAllProcessInfo()}

    # operations behind the make targets

    def start(self, target: str) -> None:
        wanted = self.wanted_replicas()
        names = []
        for process in self.resolve(target):
            names += self.instances(process, wanted.get(process.name))
        self._start(names)

    def stop(self, target: str) -> None:
        self._stop([name for process in self.resolve(target) for name in self.instances(process)])

    def scale(self, target: str, count: int) -> None:
        process = self.processes.get(target)
        if process is None or not process.scalable:
            scalable = sorted(name for name, p in self.processes.items() if p.scalable)
            raise DevError(f"{target!r} cannot be scaled; scalable process types: {', '.join(scalable)}")
        if not 0 <= count <= MAX_REPLICAS:
            raise DevError(f"N must be between 0 and {MAX_REPLICAS} (local mode declares {MAX_REPLICAS})")
        self.replicas_file.write_text(json.dumps({**self.wanted_replicas(), target: count}, indent=2))
        instances = self.instances(process)
        self._stop(instances[count:])
        self._start(instances[:count])

    def kill(self, target: str) -> None:
        """SIGKILL, as a crash would: no clean shutdown, work in hand left unacknowledged."""
        killed = self._running([name for process in self.resolve(target) for name in self.instances(process)])
        for name in killed:
            self.rpc.signalProcess(name, "KILL")
        self._wait_down(killed, "the killed processes to be gone")

    def up(self, *targets: str) -> None:
        """Start services or process types (default: every service but those ADDED_LATER), and
        wait until they are ready."""
        # what the compose broker boots with: the services' users, and the shared objects and
        # subscriber queues declared by the administrator (AMQP_URL), so they exist before any event
        grants.grant(self.environ)
        topology.apply(self.environ.get("AMQP_URL", DEFAULT_AMQP_URL), core_topology())
        self.boot()
        every_service = dict.fromkeys(p.service for p in self.processes.values())
        targets = targets or tuple(service for service in every_service if service not in ADDED_LATER)
        for target in targets:
            self.start(target)
        for target in targets:
            self.wait_ready(target)

    def wait_ready(self, target: str | None = None, timeout: float = READY_TIMEOUT_S) -> None:
        """The wanted instances RUNNING and the web processes answering /readyz (all, or `target`'s)."""
        processes = self.resolve(target) if target else list(self.processes.values())
        wanted = self.wanted_replicas()
        names = [n for p in processes for n in self.instances(p, wanted.get(p.name))]
        urls = [f"http://127.0.0.1:{port}/readyz" for p in processes if (port := http_port(p, self.environ))]

        def ready() -> bool:
            return self._all_running(names) and all(http_ok(url) for url in urls)

        self._wait(ready, timeout, "every process to be ready", show_status=True)

    # helpers

    def _start(self, names: list[str]) -> None:
        states = self.states()
        for name in names:
            if states[name]["statename"] not in RUNNING_STATES:
                self.rpc.startProcess(name, False)

    def _stop(self, names: list[str]) -> None:
        stopping = self._running(names)
        for name in stopping:
            try:
                self.rpc.stopProcess(name, False)
            except Fault as fault:  # it stopped on its own meanwhile
                if "NOT_RUNNING" not in fault.faultString:
                    raise
        self._wait_down(stopping, "stop")

    def _running(self, names: list[str]) -> list[str]:
        states = self.states()
        return [name for name in names if states[name]["statename"] in RUNNING_STATES]

    def _wait_down(self, names: list[str], what: str) -> None:
        self._wait(lambda: all(self.states()[n]["statename"] in DOWN_STATES for n in names), 60, what)

    def _started(self) -> list[str]:
        wanted = self.wanted_replicas()
        return [n for p in self.processes.values() for n in self.instances(p, wanted.get(p.name))]

    def _all_running(self, names: list[str]) -> bool:
        states = self.states()
        failed = [n for n in names if states[n]["statename"] == "FATAL"]
        if failed:
            raise DevError(f"{', '.join(failed)} keeps exiting; see `make logs` or {self.dir}/logs/")
        return all(states[n]["statename"] == "RUNNING" for n in names)

    def _wait(self, condition, timeout: float, what: str, show_status: bool = False) -> None:
        try:
            wait_until(condition, timeout, 0.2, what, failure=DevError)
        except DevError as error:
            if show_status:
                raise DevError(f"{error}\n{self.status_table()}") from None
            raise

    def status_table(self) -> str:
        states = self.states()
        started = set(self._started())
        rows = [
            f"  {name:<44} {info['statename']:<9} {info['description']}"
            for name, info in states.items()
            if name in started or info["statename"] not in DOWN_STATES
        ]
        return "\n".join(rows)

    def url(self, target: str) -> str:
        """Where a service (or the SMTP sink) answers HTTP."""
        ports = [port for process in self.resolve(target) if (port := http_port(process, self.environ))]
        if not ports:
            raise DevError(f"{target} serves no HTTP")
        return f"http://127.0.0.1:{ports[0]}"

    def exit_codes(self, target: str) -> list[int]:
        """How the started instances of a service or process type last exited."""
        states, wanted = self.states(), self.wanted_replicas()
        return [
            states[name]["exitstatus"]
            for process in self.resolve(target)
            for name in self.instances(process, wanted.get(process.name))
        ]

    def log_file(self, process_name: str) -> Path:
        """The log of a process type's first instance (`<name>-0` when scalable); every start
        appends to it."""
        process = self.processes[process_name]
        first = f"{process.name}-0" if process.scalable else process.name
        return self.dir / "logs" / f"{first}.log"

    def logs_tail(self, characters: int = 4000) -> str:
        """The end of every process's log, to show why a run failed."""
        return "\n".join(
            f"===== {path.name} =====\n{path.read_text(errors='replace')[-characters:]}"
            for path in sorted((self.dir / "logs").glob("*.log"))
        )

    def urls(self) -> list[tuple[str, str]]:
        shown = []
        for process in self.processes.values():
            if port := http_port(process, self.environ):
                label = "SMTP sink (sent emails)" if process.name == "smtp-sink" else f"{process.service} API"
                shown.append((label, f"http://127.0.0.1:{port}"))
        broker_host = urlsplit(self.infra.amqp_url_template).hostname
        shown.append(("RabbitMQ management", f"http://{broker_host}:15672"))
        return shown

    def follow_logs(self, follow: bool = True, last_lines: int = 10) -> None:
        width = max(len(name) for name in self.processes) + 3
        follow_logs(self.dir / "logs", width, follow, last_lines)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
