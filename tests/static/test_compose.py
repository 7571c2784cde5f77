"""docker-compose.yml is valid for Compose and shaped as issue 4 asks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from infra.images.build import IMAGES, PYTHON_BASE
from infra.stack import procfile
from tests.static.conftest import COMPOSE_FILE, tool

INFRASTRUCTURE = {"rabbitmq", "redis", "mailpit", "flower"}
HEALTHCHECKED = {"rabbitmq", "redis", "mailpit"}


def test_the_file_matches_the_compose_spec_schema():
    checker = tool("check-jsonschema", "check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_process_of_the_procfile_but_the_local_smtp_sink(compose_config):
    services = set(compose_config["services"])
    expected = {p.name for p in procfile().values() if p.name != "smtp-sink"}
    assert services - INFRASTRUCTURE == expected


def test_images_are_pinned_to_a_version(compose_config):
    for name in INFRASTRUCTURE:
        image = compose_config["services"][name]["image"]
        assert re.search(r":v?\d+\.\d+\.\d+", image), f"{name} uses {image}, not a pinned version"
    assert compose_config["services"]["rabbitmq"]["image"].startswith("rabbitmq:4.")
    assert "management" in compose_config["services"]["rabbitmq"]["image"]


def test_infrastructure_has_healthchecks_and_applications_wait_for_them(compose_config):
    services = compose_config["services"]
    # listeners accepting connections, not merely a node that answers (it does so during boot)
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "check_port_connectivity",
    ]
    for name in HEALTHCHECKED:
        assert services[name]["healthcheck"]["test"], name
    for name in set(services) - INFRASTRUCTURE:
        depends = services[name]["depends_on"]
        assert {"rabbitmq", "redis"} <= set(depends), name
        assert all(dep["condition"] == "service_healthy" for dep in depends.values()), name
    assert "mailpit" in services["notifications-worker"]["depends_on"]


def test_every_service_restarts_and_state_lives_in_named_volumes(compose_config):
    services = compose_config["services"]
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert "container_name" not in service, name
    assert {"rabbitmq-data", "redis-data"} <= set(compose_config["volumes"])
    mounts = {m["target"]: m for m in services["redis"]["volumes"] + services["rabbitmq"]["volumes"]}
    assert mounts["/data"]["type"] == "volume"
    assert mounts["/var/lib/rabbitmq"]["type"] == "volume"


def test_redis_appends_every_second():
    command = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_rabbitmq_boots_with_the_exported_definitions_and_plugins(compose_config):
    targets = {m["target"]: m["source"] for m in compose_config["services"]["rabbitmq"]["volumes"]}
    assert targets["/etc/rabbitmq/definitions.json"].endswith("infra/rabbitmq/definitions.json")
    assert targets["/etc/rabbitmq/enabled_plugins"].endswith("infra/rabbitmq/enabled_plugins")
    conf = targets["/etc/rabbitmq/conf.d/20-shop.conf"]
    assert "definitions.local.path = /etc/rabbitmq/definitions.json" in Path(conf).read_text()


def test_flower_reads_queue_lengths_from_the_management_api(compose_config):
    environment = compose_config["services"]["flower"]["environment"]
    assert environment["FLOWER_BROKER_API"].startswith("http://admin:")
    assert environment["FLOWER_BROKER_API"].endswith("@rabbitmq:15672/api/")


def test_ports_are_those_of_the_design_and_scalable_processes_have_none(compose_config):
    published = {
        name: sorted(int(port["published"]) for port in service.get("ports", []))
        for name, service in compose_config["services"].items()
    }
    assert published["rabbitmq"] == [5672, 15672]
    assert published["redis"] == [6379]
    assert published["mailpit"] == [1025, 8025]
    assert published["flower"] == [5555]
    assert published["orders-api"] == [8001]
    assert published["payments-api"] == [8002]
    assert published["notifications-api"] == [8003]
    for process in procfile().values():
        if process.scalable:
            assert published[process.name] == [], f"{process.name} must scale: no fixed host port"


def test_offline_every_image_is_one_make_images_builds_and_none_is_pulled(offline_config):
    built = {image.image for image in IMAGES}
    for name, service in offline_config["services"].items():
        assert service["image"] in built, f"{name}: `make images` does not build {service['image']}"
        if "build" in service:
            assert service["build"]["args"]["BASE_IMAGE"] == PYTHON_BASE, name
            assert "--no-index" in service["build"]["args"]["PIP_INSTALL_OPTIONS"], name
        else:
            assert service["pull_policy"] == "never", name


def test_offline_keeps_every_service_command_port_and_healthcheck_but_the_mailpit_stand_in(
    compose_config, offline_config
):
    for name, service in compose_config["services"].items():
        offline = offline_config["services"][name]
        assert offline.get("ports") == service.get("ports"), name
        if name != "mailpit":
            assert offline.get("command") == service.get("command"), name
            assert offline.get("healthcheck") == service.get("healthcheck"), name
