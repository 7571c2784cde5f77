"""CPU seconds (user + system) as the benchmarks read them."""

from __future__ import annotations

import resource

import psutil


def of_process(process: psutil.Process) -> float:
    """What a running process has used so far, all its threads."""
    times = process.cpu_times()
    return times.user + times.system


def of_this_process() -> float:
    return _rusage(resource.RUSAGE_SELF)


def of_reaped_children() -> float:
    """What this process's children used, to their last instant, once they were reaped (joined)."""
    return _rusage(resource.RUSAGE_CHILDREN)


def _rusage(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
