"""Chaos on the three-node broker while 500 mixed orders flow: the node that leads the `payments`
queue killed, then one node cut off the network for 20 s. After each: every accepted order
terminal, none lost, none charged twice, every customer mailed exactly once, and the cluster
whole again (three nodes, every replicated queue with its three members online). Each prints its
report line: intake, longest stall, drain time."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

import pytest

from harness.waiting import wait_until
from tests.support.composestack import ComposeStack
from tests.support.faults import under_load

ORDERS = 500
RATE_PER_S = 25
NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
KILLED_FOR_S = 10
CUT_OFF_FOR_S = 20


def replicated_queues(cluster: ComposeStack, asked: str) -> dict[str, dict]:
    """Every quorum queue and stream as node `asked` sees it: leader, members, members online."""
    listing = cluster.compose(
        "exec", "-T", asked, "rabbitmqctl", "-q", "list_queues",
        "name", "type", "leader", "members", "online", "--formatter", "json",
    )  # fmt: skip
    return {q["name"]: q for q in json.loads(listing) if q["type"] in ("quorum", "stream")}


def leader_of(cluster: ComposeStack, queue: str) -> str:
    """The compose service of the node that leads `queue` (rabbit@rabbitmq-2 -> rabbitmq-2)."""
    return replicated_queues(cluster, NODES[0])[queue]["leader"].partition("@")[2]


def whole_again(cluster: ComposeStack, asked: str) -> bool:
    """Three nodes running, and every replicated queue with its three members online."""
    queues = replicated_queues(cluster, asked)
    return bool(queues) and all(len(q["members"]) == len(q["online"]) == len(NODES) for q in queues.values())


def wait_whole_again(cluster: ComposeStack, asked: str) -> float:
    started = time.monotonic()
    wait_until(lambda: _answers(whole_again, cluster, asked), 180, 1.0, "every queue on three nodes again")
    return time.monotonic() - started


def _answers(check: Callable[[ComposeStack, str], bool], cluster: ComposeStack, asked: str) -> bool:
    """A node that is still booting or pausing does not answer: not yet."""
    try:
        return check(cluster, asked)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return False


def other_than(node: str) -> str:
    return next(n for n in NODES if n != node)


def test_the_cluster_starts_with_every_queue_on_three_nodes(cluster: ComposeStack):
    assert whole_again(cluster, NODES[0])
    assert cluster.all_healthy()


def test_killing_the_node_that_leads_payments_loses_and_doubles_nothing(cluster: ComposeStack):
    leader = leader_of(cluster, "payments")
    (container,) = cluster.containers(leader)

    def kill_the_leader() -> None:
        cluster.docker("kill", container)
        time.sleep(KILLED_FOR_S)  # the outage itself: the node stays down this long
        cluster.docker("start", container)

    fault = f"{leader} (leads payments) killed"
    report = under_load(cluster, fault, kill_the_leader, ORDERS, RATE_PER_S, 0.99)
    rejoined = wait_whole_again(cluster, other_than(leader))
    print(f"{leader} back in the cluster with every queue on three nodes {rejoined:.0f} s after the drain")
    assert report.intake >= 0.99


def test_a_node_cut_off_for_twenty_seconds_loses_and_doubles_nothing(cluster: ComposeStack):
    node = leader_of(cluster, "payments")
    (container,) = cluster.containers(node)
    network = f"{cluster.project}_default"

    def cut_off() -> None:
        cluster.docker("network", "disconnect", network, container)
        time.sleep(CUT_OFF_FOR_S)  # the outage itself
        # back under its service's name, by which its peers and the shop find it
        cluster.docker("network", "connect", "--alias", node, network, container)

    report = under_load(cluster, f"{node} cut off for {CUT_OFF_FOR_S} s", cut_off, ORDERS, RATE_PER_S, 0.99)
    healed = wait_whole_again(cluster, other_than(node))
    print(f"{node} back in the cluster with every queue on three nodes {healed:.0f} s after the drain")
    assert report.intake >= 0.99


@pytest.fixture(autouse=True)
def _cluster_whole_before(cluster: ComposeStack) -> None:
    """Each fault starts from a whole cluster, whatever the test before it left."""
    wait_whole_again(cluster, NODES[0])
