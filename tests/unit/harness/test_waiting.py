from __future__ import annotations

import itertools

import pytest

from harness.waiting import wait_until


def test_returns_the_first_truthy_answer():
    answers = iter([0, None, [], "ready"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_raises_the_chosen_failure_naming_what_was_awaited():
    class Failed(Exception):
        pass

    with pytest.raises(Failed, match="timed out after 0s waiting for the moon"):
        wait_until(lambda: False, timeout=0.05, interval=0.01, what="the moon", failure=Failed)


def test_without_a_failure_returns_the_last_answer_at_the_deadline():
    class Pending:
        """A falsy answer that says which poll gave it."""

        def __init__(self, poll: int) -> None:
            self.poll = poll

        def __bool__(self) -> bool:
            return False

    answers = (Pending(poll) for poll in itertools.count())
    last = wait_until(lambda: next(answers), timeout=0.05, interval=0.01, failure=None)
    assert isinstance(last, Pending) and last.poll > 0
