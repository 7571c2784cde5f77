"""The one shape of every service's wiring (cosmicpython's bootstrap):

    bootstrap(settings, redis, **overrides) -> Handlers

in `services/<name>/bootstrap.py`. It injects the dependencies into the service's plain handler
functions; a process passes what only it has as an override (the consumer how to enqueue a
task, the worker how to publish) and runs its part of the result: a consumer the event
handlers, a Celery worker the commands its tasks run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from shared.envelope import Event

Handler = Callable[[Event], None]
# A task's use case: takes the id of what to work on, returns what happened (counted in metrics).
Command = Callable[[str], str]


@dataclass(frozen=True)
class Handlers:
    """A service's wired use cases: event handlers by event type, task commands by task name."""

    events: Mapping[str, Handler]
    commands: Mapping[str, Command] = field(default_factory=dict)


Bootstrap = Callable[..., Handlers]


def not_in_this_process(*_: Any) -> NoReturn:
    """The default of a dependency only some processes have (a consumer does not publish
    outcomes, a worker enqueues nothing): calling it is a wiring mistake, and says so."""
    raise RuntimeError("a dependency this process's bootstrap() call did not pass was called")
