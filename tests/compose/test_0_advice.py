"""What `make run` says instead of half-starting a stack: one line for a missing engine, a
missing image, a taken port; nothing is started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

from infra import compose
from infra.stack import ROOT
from tests.support.composestack import PORT_VARIABLES, own_env_file


def make_run(**env: str) -> subprocess.CompletedProcess:
    project = f"shoptest-advice-{uuid.uuid4().hex[:6]}"
    env_file = own_env_file()  # a developer's .env is neither read nor created
    environment = {
        **os.environ,
        "MODE": "compose",
        "OFFLINE": "1",
        "COMPOSE_PROJECT_NAME": project,
        "ENV_FILE": str(env_file),
        **env,
    }
    try:
        result = subprocess.run(
            ["make", "--no-print-directory", "-o", ".venv/bin/.installed", "run"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        engine = {k: v for k, v in environment.items() if k != "DOCKER_HOST"}
        assert compose.run("ps", "--all", "--quiet", environ=engine).split() == [], "nothing may start"
    finally:
        shutil.rmtree(env_file.parent)
    return result


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_a_taken_port_is_one_line_naming_the_variable_that_moves_it():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = str(listener.getsockname()[1])
        others = {variable: "0" for variable in PORT_VARIABLES}  # 0: compose picks a free port
        result = make_run(**{**others, "ORDERS_PORT": taken})
    assert result.returncode != 0
    assert errors(result) == [
        f"error: port {taken} (orders-api) is taken by another program: "
        "stop it, or move the port with ORDERS_PORT=<a free port>"
    ]


def test_no_engine_is_one_line_saying_what_to_do():
    result = make_run(DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.returncode != 0
    (line,) = errors(result)
    assert "no Docker engine answers" in line and "MODE=local" in line


def test_a_missing_image_is_one_line_saying_make_images():
    services = {"rabbitmq": {"image": f"shop-offline/missing:{uuid.uuid4().hex[:6]}", "pull_policy": "never"}}
    (line,) = compose.missing_images(services)
    assert line.endswith("(for rabbitmq) is missing: build the images first with `make images`")
