"""CPU seconds of the stack, the broker and Redis over a window, by process (bench/cpu_time.py
reads one process's)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psutil

from bench import cpu_time
from harness.probe import Sampler


class CpuMeter:
    """CPU seconds used by the broker, Redis and, if given, the stack (supervisord and every
    process under it), between start() and stop(). Sampled every half second, so processes
    that come and go (gunicorn recycles its workers) count up to their last sample."""

    def __init__(self, supervisord_pid: int | None = None) -> None:
        self.supervisord = psutil.Process(supervisord_pid) if supervisord_pid else None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group: dict[int, str] = {}
        self.label: dict[int, str] = {}
        self._sampler = Sampler(self._sample, interval=0.5)

    def _sample(self, initial: bool = False) -> None:
        for group, process in measured_processes(self.supervisord):
            with contextlib.suppress(psutil.Error):
                used = cpu_time.of_process(process)
                self.first.setdefault(process.pid, used if initial else 0.0)  # new since start(): all of it
                self.last[process.pid] = used
                if process.pid not in self.group:
                    self.group[process.pid] = group
                    self.label[process.pid] = label(process, group)

    def start(self) -> None:
        self._sample(initial=True)
        self._sampler.__enter__()

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        """CPU seconds by group (stack, rabbitmq, redis) and by process label."""
        self._sampler.__exit__()
        self._sample()
        used: dict[str, float] = {"rabbitmq": 0.0, "redis": 0.0}
        if self.supervisord:
            used["stack"] = 0.0
        by_process: dict[str, float] = {}
        for pid, last in self.last.items():
            delta = last - self.first.get(pid, 0.0)
            used[self.group[pid]] += delta
            by_process[self.label[pid]] = by_process.get(self.label[pid], 0.0) + delta
        return used, by_process

    @contextlib.contextmanager
    def window(self, used: dict[str, float]) -> Iterator[None]:
        """Measures what runs inside; the CPU seconds by group end up in `used`."""
        self.start()
        try:
            yield
        finally:
            used.update(self.stop()[0])


def measured_processes(supervisord: psutil.Process | None) -> Iterator[tuple[str, psutil.Process]]:
    """(group, process): this machine's broker and Redis (not a container's), and the stack's if
    given (supervisord and every process under it)."""
    if supervisord:
        yield "stack", supervisord  # it carries every process's output to the log files
        for child in supervisord.children(recursive=True):
            yield "stack", child
    for process in psutil.process_iter(["name"]):
        name = process.info["name"] or ""
        if not _outside_containers(process.pid):
            continue  # a compose stack's broker or Redis, not the one the stack uses
        if name.startswith("beam.smp"):
            yield "rabbitmq", process
        elif name.startswith("redis-server"):
            yield "redis", process


def _outside_containers(pid: int) -> bool:
    """In this process's PID namespace (Linux; containers have their own), or not to be told."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:
        return True


def label(process: psutil.Process, group: str) -> str:
    """`orders-api`, `payments-worker`, ...: the Procfile process a pid of the stack belongs
    to; `rabbitmq` and `redis` for theirs."""
    if group != "stack":
        return group
    command = " ".join(process.cmdline())
    for token in command.replace("'", " ").replace(":", " ").split():
        if token.startswith(("services.", "infra.smtp_sink")):
            parts = token.split(".")
            if parts[0] == "infra":
                return "smtp-sink"
            kind = {"app": "api"}.get(parts[2], parts[2]) if len(parts) > 2 else "?"
            return f"{parts[1]}-{kind}"
    return "supervisord" if "supervisord" in command else process.name()
