"""Compose and local mode run the same commands with the same environment.

Local mode runs `shell_command(process)` with `process_environment(process, local_infra)`
(infra/dev/). Each compose service must run the very same command, and the environment
that infra/stack.py computes for compose's infrastructure addresses: no second source.
"""

from __future__ import annotations

import configparser
import shlex

import pytest

from infra.dev.config import supervisord_config
from infra.stack import COMPOSE_INFRA, local_infra, process_environment, procfile, shell_command
from tests.static.conftest import SECRETS

APPLICATION_PROCESSES = [p for p in procfile().values() if p.name != "smtp-sink"]


def unescape(value: str) -> str:
    """`docker compose config` keeps `$$` (a literal `$`) escaped; the container sees `$`."""
    return value.replace("$$", "$")


@pytest.mark.parametrize("process", APPLICATION_PROCESSES, ids=lambda p: p.name)
def test_compose_runs_the_procfile_line(compose_config, process):
    command = [unescape(part) for part in compose_config["services"][process.name]["command"]]
    assert command == shell_command(process)


@pytest.mark.parametrize("process", APPLICATION_PROCESSES, ids=lambda p: p.name)
def test_compose_environment_is_the_one_of_local_mode_with_compose_addresses(compose_config, process):
    environment = compose_config["services"][process.name]["environment"]
    assert environment == process_environment(process, COMPOSE_INFRA, SECRETS)


def test_each_service_has_its_own_broker_and_redis_user_and_redis_database(compose_config):
    by_service = {p.service: compose_config["services"][p.name]["environment"] for p in APPLICATION_PROCESSES}
    assert len({env["REDIS_URL"] for env in by_service.values()}) == len(by_service)
    for service, env in by_service.items():
        password = SECRETS[f"{service.upper()}_AMQP_PASSWORD"]
        assert env["AMQP_URL"] == f"amqp://{service}:{password}@rabbitmq:5672/%2F"
        assert env["REDIS_URL"].startswith(
            f"redis://{service}:{SECRETS[f'{service.upper()}_REDIS_PASSWORD']}@redis:"
        )


def test_local_mode_runs_each_procfile_line_with_that_environment(tmp_path):
    environ = {
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/t-1",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        **SECRETS,
    }
    config = configparser.RawConfigParser()
    config.read_string(supervisord_config(procfile().values(), tmp_path, environ))
    for process in APPLICATION_PROCESSES:
        section = config[f"program:{process.name}"]
        assert section["command"].replace("%%", "%") == shlex.join(shell_command(process))
        expected = process_environment(process, local_infra(environ), environ)
        for key, value in expected.items():
            assert f'{key}="{value.replace("%", "%%")}"' in section["environment"], (process.name, key)
    assert config["group:payments"]["programs"] == "payments-api,payments-consumer,payments-worker"
