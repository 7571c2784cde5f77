"""A `make dev` stack in a sandbox (own vhost, Redis prefix, ports and run folder),
driven with make exactly as a developer does; removed with everything it left behind."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.sandbox import Sandbox, create_sandbox, destroy_sandbox, rabbitmqctl
from infra.ports import free_port
from infra.stack import PORT_VARIABLES
from tests.support.stack import ROOT, make


class DevStack:
    """A `make dev` stack in a sandbox, driven by make as a developer would."""

    def __init__(self, sandbox: Sandbox, run_dir: Path) -> None:
        self.sandbox = sandbox
        self.run_dir = run_dir
        self.ports = {name: str(free_port()) for name in PORT_VARIABLES}
        self.env = {
            **os.environ,
            **sandbox.env(),
            **self.ports,
            "RUN_DIR": str(run_dir),
            "MODE": "local",
        }

    def make(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return make(self.env, *args, timeout=timeout)

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def consumers(self, queue: str) -> int:
        rows = rabbitmqctl("list_queues", "-p", self.sandbox.vhost, "name", "consumers").splitlines()
        counts = dict(row.split("\t") for row in rows if "\t" in row)
        return int(counts.get(queue, "0"))

    def pids(self) -> dict[str, str]:
        rows = self.make("ps").stdout.splitlines()
        return {row.split()[0]: row.split()[3].rstrip(",") for row in rows if " RUNNING " in row}

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name} =====\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted((self.run_dir / "logs").glob("*.log"))
        )


@contextlib.contextmanager
def running_dev_stack(label: str, timeout: float = 90, **env: str) -> Iterator[DevStack]:
    """`make dev` in a fresh sandbox; `make down` and the sandbox deleted afterwards."""
    sandbox = create_sandbox(label)
    # A short path: supervisord's unix socket path must stay under ~100 characters.
    with tempfile.TemporaryDirectory(prefix=f"shop-{label}-") as run_dir:
        stack = DevStack(sandbox, Path(run_dir))
        stack.env.update(env)
        try:
            stack.make("dev", timeout=timeout)
            yield stack
        except BaseException:
            print(stack.logs())
            raise
        finally:
            subprocess.run(
                ["make", "--no-print-directory", "down"], cwd=ROOT, env=stack.env, timeout=120, check=False
            )
            destroy_sandbox(sandbox)
