"""The shop in containers with its broker as a three-node cluster (`CLUSTER=1 OFFLINE=1 make run`).

Skipped, saying why, where no Docker engine answers. One stack for the folder, removed with its
volumes afterwards, started before the compose suite's own (folders run in name order), never
beside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.composestack import ComposeStack, running_compose_stack, skip_without_engine

pytestmark = pytest.mark.slow


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_without_engine(items, "tests/cluster/")


@pytest.fixture(scope="package")
def cluster() -> Iterator[ComposeStack]:
    with running_compose_stack(CLUSTER="1") as (stack, _seconds):
        yield stack
