"""docker-compose.yml is valid for Compose and shaped as issue 4 asks, with the least privilege
its containers and credentials need."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from infra import privileges, secrets
from infra.images.build import IMAGES, PYTHON_BASE
from infra.stack import procfile
from tests.static.conftest import COMPOSE_FILE, PROJECT, ROOT, SECRETS, tool

INFRASTRUCTURE = {"rabbitmq", "redis", "mailpit", "flower", "jaeger", "prometheus", "grafana"}
HEALTHCHECKED = {"rabbitmq", "redis", "mailpit", "prometheus", "grafana"}
# What has no Debian stand-in: left out of `OFFLINE=1` runs, its configuration checked statically
UPSTREAM_ONLY = ["upstream-images-only"]


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


def written_by_make_run(service: dict, target: str) -> dict:
    """The read-only mount of a file infra/compose.py writes before `up`, never created empty."""
    (mount,) = [m for m in service["volumes"] if m["target"] == target]
    assert mount["source"] == str(ROOT / ".run" / "compose" / PROJECT / Path(target).name)
    assert mount["read_only"] is True
    assert mount["bind"]["create_host_path"] is False
    return mount


def test_rabbitmq_boots_with_the_generated_definitions_and_no_guest_from_outside(compose_config):
    rabbitmq = compose_config["services"]["rabbitmq"]
    written_by_make_run(rabbitmq, "/etc/rabbitmq/definitions.json")
    targets = {m["target"]: m["source"] for m in rabbitmq["volumes"]}
    assert targets["/etc/rabbitmq/enabled_plugins"].endswith("infra/rabbitmq/enabled_plugins")
    conf = Path(targets["/etc/rabbitmq/conf.d/20-shop.conf"]).read_text()
    assert "definitions.local.path = /etc/rabbitmq/definitions.json" in conf
    assert "loopback_users.guest = true" in conf.splitlines()


def test_redis_has_users_from_the_generated_acl_and_never_evicts(compose_config):
    redis = compose_config["services"]["redis"]
    assert re.fullmatch(r"redis:7\.4\.([6-9]|\d\d+)-alpine", redis["image"]), "7.4.6 fixes 7.4.5's Lua flaws"
    mount = written_by_make_run(redis, "/etc/redis/users.acl")
    command = redis["command"]
    assert command[command.index("--aclfile") + 1] == mount["target"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--maxmemory") + 1]
    # the healthcheck logs in as the operator user (`default` is off)
    assert redis["environment"]["REDISCLI_AUTH"] == SECRETS["REDIS_ADMIN_PASSWORD"]
    assert "--user admin" in redis["healthcheck"]["test"][1]


def test_flower_reads_queue_lengths_from_the_management_api_and_asks_for_a_login(compose_config):
    environment = compose_config["services"]["flower"]["environment"]
    assert environment["FLOWER_BROKER_API"].startswith("http://admin:")
    assert environment["FLOWER_BROKER_API"].endswith("@rabbitmq:15672/api/")
    assert environment["FLOWER_BASIC_AUTH"] == f"admin:{SECRETS['RABBITMQ_ADMIN_PASSWORD']}"


def test_mailpit_is_a_release_with_ui_authentication_and_asks_for_a_login(compose_config):
    mailpit = compose_config["services"]["mailpit"]
    version = tuple(map(int, re.search(r":v(\d+)\.(\d+)\.(\d+)$", mailpit["image"]).groups()))
    assert version >= (1, 28, 3)
    assert mailpit["environment"]["MP_UI_AUTH"] == f"mail:{SECRETS['MAILPIT_UI_PASSWORD']}"


def test_every_password_comes_from_the_secrets_and_none_has_a_default():
    text = COMPOSE_FILE.read_text()
    used = set(re.findall(r"\$\{(\w+?)(?::?[?-][^}]*)?\}", text))
    secret_like = {name for name in used if re.search(r"PASSWORD|TOKEN|SECRET|AUTH", name)}
    assert secret_like <= set(secrets.NAMES)
    for name in secret_like:
        forms = set(re.findall(rf"\$\{{{name}(:?[?-])?", text))
        assert forms == {":?"}, f"${{{name}}} must fail loudly when missing (`:?`), not fall back"


def test_every_secret_is_documented_in_env_example_and_is_one_service_user_or_operator():
    documented = re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert sorted(documented) == sorted(secrets.NAMES)
    assert secrets.SERVICES == privileges.SERVICES
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".run/" in (ROOT / ".gitignore").read_text().splitlines()


def test_every_container_drops_every_capability_and_privilege_and_writes_only_tmpfs_and_volumes(
    compose_config, offline_config
):
    for config in (compose_config, offline_config):
        for name, service in config["services"].items():
            assert service["cap_drop"] == ["ALL"], name
            assert "cap_add" not in service, f"{name}: say why a capability comes back, or drop it"
            assert service["security_opt"] == ["no-new-privileges:true"], name
            assert service["read_only"] is True, name
            assert any(t.startswith("/tmp:") for t in service["tmpfs"]), name


def test_containers_of_images_that_start_as_root_run_as_a_user_of_theirs(compose_config, offline_config):
    """rabbitmq, redis and mailpit images start as root; the shop's image and Flower's have a
    USER (tests/static/test_dockerfile.py, infra/images/flower/Dockerfile, mher/flower)."""
    for config in (compose_config, offline_config):
        for name in ("rabbitmq", "redis", "mailpit"):
            assert config["services"][name]["user"] not in ("", "0", "root"), name


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
        if service.get("profiles") == UPSTREAM_ONLY:
            continue
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
