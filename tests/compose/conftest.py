"""The compose suite: the shop in real containers, built here without a registry.

It runs whenever a Docker engine answers, and says why it skipped where none does. One
stack serves the whole compose suite (building and starting it is most of the time); the modules
run in name order, so the one that takes the stack down and up again comes last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.composestack import ComposeStack, running_compose_stack, skip_without_engine

pytestmark = pytest.mark.slow


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_without_engine(items, "tests/compose/")


# Package scope: the containers go as soon as the last compose test is done, so they do not
# share the machine with the rest of the suite.
@pytest.fixture(scope="package")
def started_shop(tmp_path_factory) -> Iterator[tuple[ComposeStack, float]]:
    artifacts = str(tmp_path_factory.mktemp("compose-artifacts"))
    with running_compose_stack(ARTIFACTS_DIR=artifacts) as started:
        yield started


@pytest.fixture
def shop(started_shop: tuple[ComposeStack, float]) -> ComposeStack:
    return started_shop[0]
