"""Fixtures shared by every test layer.

unit/        no broker, no Redis: pure functions and small fakes
integration/ the real RabbitMQ and Redis, inside a throwaway vhost and key prefix
e2e/         whole services as real processes (the Procfile commands)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.sandbox import Sandbox, create_sandbox, destroy_sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh vhost and Redis prefix for one test."""
    box = create_sandbox()
    yield box
    destroy_sandbox(box)
