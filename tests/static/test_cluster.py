"""CLUSTER=1 (infra/compose.cluster.yml), as Compose resolves it with and without OFFLINE=1:
three broker nodes made like the single one, and every process of the shop given all three."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra import compose
from infra.stack import CLUSTER_NODES, COMPOSE_CLUSTER_INFRA, process_environment, procfile
from tests.static.conftest import COMPOSE_FILE, OFFLINE_FILE, ROOT, SECRETS, resolved_config

ADVANCED_CONFIG = ROOT / "infra" / "rabbitmq" / "cluster.advanced.config"
APPLICATION_PROCESSES = [p for p in procfile().values() if p.name != "smtp-sink"]
# What a node keeps of the single broker: everything but its name, data and published ports.
KEPT = ("image", "user", "cap_drop", "security_opt", "read_only", "tmpfs", "healthcheck", "restart")


@pytest.fixture(scope="module")
def cluster_config() -> dict[str, Any]:
    return resolved_config(COMPOSE_FILE, compose.CLUSTER_FILE)


@pytest.fixture(scope="module")
def cluster_offline_config() -> dict[str, Any]:
    return resolved_config(COMPOSE_FILE, OFFLINE_FILE, compose.CLUSTER_FILE, compose.CLUSTER_OFFLINE_FILE)


def test_compose_adds_the_cluster_files_only_when_asked():
    assert compose.files({}) == [COMPOSE_FILE]
    assert compose.files({"CLUSTER": "1"}) == [COMPOSE_FILE, compose.CLUSTER_FILE]
    assert compose.files({"CLUSTER": "1", "OFFLINE": "1"}) == [
        COMPOSE_FILE,
        OFFLINE_FILE,
        compose.CLUSTER_FILE,
        compose.CLUSTER_OFFLINE_FILE,
    ]


@pytest.mark.parametrize("config_name", ["cluster_config", "cluster_offline_config"])
def test_three_nodes_made_like_the_single_broker_which_does_not_start(config_name, request):
    services = request.getfixturevalue(config_name)["services"]
    single = services["rabbitmq"]
    assert single["profiles"] == ["single-broker"]
    volumes = set()
    for node in CLUSTER_NODES:
        service = services[node]
        assert {key: service.get(key) for key in KEPT} == {key: single.get(key) for key in KEPT}, node
        assert service["hostname"] == node  # the node's name, rabbit@<node>, under which its data lives
        mounts = {volume["target"]: volume for volume in service["volumes"]}
        assert mounts["/etc/rabbitmq/conf.d/30-cluster.conf"]["read_only"]
        assert mounts["/etc/rabbitmq/advanced.config"]["source"] == str(ADVANCED_CONFIG)
        assert mounts["/etc/rabbitmq/definitions.json"]["read_only"]
        volumes.add(mounts["/var/lib/rabbitmq"]["source"])
        assert service["environment"]["ERLANG_COOKIE"] == SECRETS["RABBITMQ_ERLANG_COOKIE"]
    assert len(volumes) == len(CLUSTER_NODES), "each node has its own data volume"
    # only the first node on this machine's ports, those of the single broker
    assert services[CLUSTER_NODES[0]]["ports"] == single["ports"]
    assert all(not services[node].get("ports") for node in CLUSTER_NODES[1:])


def test_the_nodes_find_each_other_from_the_same_list_and_pause_when_in_a_minority():
    conf = (ROOT / "infra" / "rabbitmq" / "cluster.conf").read_text()
    listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = rabbit@(\S+)$", conf, re.M)
    assert listed == list(CLUSTER_NODES)
    assert re.search(r"^cluster_partition_handling = pause_minority$", conf, re.M)
    replicate = (ROOT / "infra" / "rabbitmq" / "replicate.sh").read_text()
    nodes = re.search(r'^NODES="(.*)"$', replicate, re.M).group(1).split()
    assert nodes == [f"rabbit@{node}" for node in CLUSTER_NODES]


def test_dead_letters_resent_within_seconds_here_and_on_kubernetes():
    """Celery's retry delays forward at least once; a forward a lost node never confirmed is
    resent after 10 s instead of RabbitMQ's 3 minutes, in compose and in the prod overlay."""
    advanced = ADVANCED_CONFIG.read_text()
    assert re.search(r"\{dead_letter_worker_publisher_confirm_timeout, 10000\}", advanced)
    prod = yaml.safe_load(
        (ROOT / "deploy" / "k8s" / "overlays" / "prod" / "rabbitmq-cluster.yaml").read_text()
    )
    assert prod["spec"]["rabbitmq"]["advancedConfig"] == advanced


def test_the_shop_starts_once_every_queue_is_on_three_nodes(cluster_config):
    services = cluster_config["services"]
    replicate = services["rabbitmq-cluster"]
    assert replicate["restart"] == "no"
    assert set(replicate["depends_on"]) == set(CLUSTER_NODES)
    for process in APPLICATION_PROCESSES:
        depends = services[process.name]["depends_on"]
        assert "rabbitmq" not in depends, process.name
        assert depends["rabbitmq-cluster"]["condition"] == "service_completed_successfully", process.name
    assert set(services["flower"]["depends_on"]) == {"rabbitmq-cluster"}


@pytest.mark.parametrize("process", APPLICATION_PROCESSES, ids=lambda p: p.name)
def test_every_process_is_given_the_three_nodes(cluster_config, process):
    environment = cluster_config["services"][process.name]["environment"]
    assert environment == process_environment(process, COMPOSE_CLUSTER_INFRA, SECRETS)
    urls = environment["AMQP_URL"].split(";")
    assert all(url.startswith(f"amqp://{process.service}:") for url in urls), urls
    assert [url.split("@")[1].split(":")[0] for url in urls] == list(CLUSTER_NODES)


def test_flower_fails_over_too(cluster_config):
    urls = cluster_config["services"]["flower"]["environment"]["CELERY_BROKER_URL"].split(";")
    assert [url.split("@")[1].split(":")[0] for url in urls] == list(CLUSTER_NODES)


def test_offline_every_node_runs_the_stand_in_never_pulled(cluster_offline_config):
    services = cluster_offline_config["services"]
    for name in (*CLUSTER_NODES, "rabbitmq-cluster"):
        assert services[name]["image"] == services["rabbitmq"]["image"] == "shop-offline/rabbitmq:3.10", name
        assert services[name]["pull_policy"] == "never", name
