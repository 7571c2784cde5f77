"""The one way tests, demos and the benchmark start the shop's processes: local mode's
LocalStack (infra/dev, what `make dev` runs) in a sandbox of its own — vhost, Redis prefix,
free ports and run folder — beside a developer's stack; and the make targets that steer a
stack, run as a person types them.

On failure the end of every process's log is printed and the run folder is kept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import TypeVar

from harness.sandbox import Sandbox, create_sandbox, destroy_sandbox
from infra.dev.stack import LocalStack
from infra.ports import free_port
from infra.stack import PORT_VARIABLES, ROOT

Stack = TypeVar("Stack", bound=LocalStack)


def make(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    failure: type[Exception] = AssertionError,
) -> subprocess.CompletedProcess:
    """`make <args>` in `env`; raises `failure` with what make printed when it fails.
    `-o .venv/bin/.installed`: the caller runs inside that virtualenv, never rebuild it."""
    command = ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/bin/.installed", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise failure(f"`make {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return result


class SandboxedStack(LocalStack):
    """A LocalStack whose environment puts it in `sandbox`, on free ports, in `run_dir`;
    `make` targets given that environment (`MODE=local`) steer this very stack."""

    def __init__(self, sandbox: Sandbox, run_dir: str, autorestart: bool, **env: str) -> None:
        ports = {name: str(free_port()) for name in PORT_VARIABLES}
        environ = {**os.environ, **sandbox.env(), **ports, "RUN_DIR": run_dir, "MODE": "local", **env}
        super().__init__(environ, autorestart)
        self.sandbox = sandbox

    def make(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return make(*args, env=self.environ, timeout=timeout)

    @contextlib.contextmanager
    def beside(self, label: str, **env: str) -> Iterator[LocalStack]:
        """A second supervisord on the same sandbox and ports with more environment, for a
        process that must run differently from its peers (a slow payments worker)."""
        run_dir = _short_run_dir(label)
        with _supervised(LocalStack({**self.environ, "RUN_DIR": run_dir, **env}, self.autorestart)) as other:
            yield other


@contextlib.contextmanager
def sandboxed_stack(label: str, autorestart: bool = True, **env: str) -> Iterator[SandboxedStack]:
    """A stack in a fresh sandbox, nothing started yet (`up()`, or `make dev`); afterwards
    supervisord and its processes are stopped and the sandbox deleted. `autorestart=False`:
    a process that dies stays down until started again (tests that kill one)."""
    sandbox = create_sandbox(label)
    try:
        with _supervised(SandboxedStack(sandbox, _short_run_dir(label), autorestart, **env)) as stack:
            yield stack
    finally:
        destroy_sandbox(sandbox)


def _short_run_dir(label: str) -> str:
    """supervisord's unix socket lives in the run folder: its path must stay under ~100 characters."""
    return tempfile.mkdtemp(prefix=f"shop-{label}-")


@contextlib.contextmanager
def _supervised(stack: Stack) -> Iterator[Stack]:
    """supervisord stopped whatever happens, so no process outlives its run; on failure the
    end of each log is shown and the logs are kept, so the failure can be understood."""
    failed = False
    try:
        yield stack
    except BaseException:
        failed = True
        print(f"{stack.logs_tail()}\nthe processes' logs are kept in {stack.dir / 'logs'}", file=sys.stderr)
        raise
    finally:
        stack.shutdown()
        if not failed:
            shutil.rmtree(stack.dir, ignore_errors=True)
