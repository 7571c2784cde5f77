"""Run processes of the stack exactly as `make dev` does: infra/Procfile lines, via infra.stack.

Tests start only what they need, inside their sandbox (own vhost, Redis prefix and free
ports), and every process is stopped at the end. Output goes to one log file per
process under the test's tmp folder, printed when a test fails.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.sandbox import Sandbox, create_sandbox, destroy_sandbox
from harness.waiting import wait_until
from infra.ports import free_port
from infra.stack import PORT_VARIABLES, core_topology, procfile, shell_command
from shared import topology

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    sandbox: Sandbox
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, list[subprocess.Popen]] = field(default_factory=dict)
    starts: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.processes_of_procfile = procfile()
        self.ports = {name: str(free_port()) for name in PORT_VARIABLES}
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_FORMAT": "text",
            **self.sandbox.env(),
            **self.ports,
            "SMTP_URL": f"smtp://127.0.0.1:{self.ports['SMTP_SINK_PORT']}",
            **self.extra_env,
        }

    def url(self, service: str) -> str:
        if service == "smtp-sink":
            return f"http://127.0.0.1:{self.ports['SMTP_SINK_HTTP_PORT']}"
        return f"http://127.0.0.1:{self.ports[service.upper() + '_PORT']}"

    def start(self, name: str, replicas: int = 1, **env: str) -> None:
        """Start replicas; each start gets its own log, `<name>.<n>.log`, n counting from 0."""
        for _ in range(replicas):
            index = self.starts[name]
            self.starts[name] += 1
            log = open(self.log_dir / f"{name}.{index}.log", "ab")  # noqa: SIM115 (owned by the child)
            self.processes.setdefault(name, []).append(
                subprocess.Popen(
                    shell_command(self.processes_of_procfile[name]),
                    cwd=ROOT,
                    env={**self.env, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def last_log(self, name: str) -> Path:
        """The log of the most recent start of a process type."""
        return self.log_dir / f"{name}.{self.starts[name] - 1}.log"

    def wait_ready(self, service: str, timeout: float = 30) -> None:
        def ready() -> bool:
            try:
                return requests.get(self.url(service) + "/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout, 0.1, f"{service} /readyz")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> list[int]:
        """Stop every replica of a process type; returns their exit codes."""
        procs = self.processes.pop(name, [])
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes.append(proc.wait())
        return codes

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name} =====\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def processes_of(*services: str) -> tuple[str, ...]:
    """The SMTP sink and every Procfile process of these services, in Procfile order."""
    return ("smtp-sink", *(p.name for p in procfile().values() if p.service in services))


@contextlib.contextmanager
def running_stack(
    label: str,
    processes: Iterable[str],
    ready: Iterable[str] = (),
    env: dict[str, dict[str, str]] | None = None,
) -> Iterator[Stack]:
    """Procfile processes in a fresh sandbox, as `make dev` starts them (core topology first);
    waits for the `ready` services' /readyz; stops everything and deletes the sandbox after.
    `env`: extra environment per process name."""
    sandbox = create_sandbox(label)
    with tempfile.TemporaryDirectory(prefix=f"{label}-logs-") as logs:
        stack = Stack(sandbox, Path(logs))
        try:
            topology.apply(sandbox.amqp_url, core_topology())
            for name in processes:
                stack.start(name, **(env or {}).get(name, {}))
            for service in ready:
                stack.wait_ready(service, timeout=60)
            yield stack
        except BaseException:
            print(stack.logs())
            raise
        finally:
            stack.stop_all()
            destroy_sandbox(sandbox)


def make(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A make target, as a person types it, in `env`; a failure shows what make printed."""
    # `-o .venv/bin/.installed`: the test runs inside that virtualenv, never rebuild it.
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/bin/.installed", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"make {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result
