"""How far the flow got, second by second, through an outage: the emails the stack sent.

Every order ends in exactly one email, so the mailbox's count is the flow's progress at its very
end: a hop that stalls anywhere upstream shows here as a flat stretch.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import requests

from harness.mail import Mailbox


@dataclass
class EmailProgress:
    """Samples the mailbox's count in the background, from start() to stop()."""

    mailbox: Mailbox
    interval_s: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, emails)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            # the SMTP sink is not what is under test: a missed sample is no progress
            with contextlib.suppress(requests.RequestException):
                self.samples.append((time.monotonic(), self.mailbox.count()))
            self._stop.wait(self.interval_s)

    def first_time_at(self, count: int) -> float | None:
        """When the mailbox first held `count` emails (monotonic), if it did."""
        return next((t for t, n in self.samples if n >= count), None)

    def longest_stall(self, start: float, target: int) -> float:
        """The longest time without a new email, from `start` until the mailbox held `target`."""
        end = self.first_time_at(target) or (self.samples[-1][0] if self.samples else start)
        last_change, previous, longest = start, None, 0.0
        for t, n in self.samples:
            if start <= t <= end and n != previous:
                longest = max(longest, t - last_change)
                last_change, previous = t, n
        return max(longest, end - last_change)
