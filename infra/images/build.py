"""`make images`: every image the compose stack needs, from Debian packages and PyPI only.

For a machine whose Docker engine reaches no registry (nothing can be pulled, the engine
starts with no images). Three steps, each skipped when its inputs did not change, so a
rebuild with nothing changed takes seconds:

1. root filesystems: mmdebstrap installs Debian packages into a tar that `docker import`
   turns into a base image (python3 for the shop and Flower, RabbitMQ, Redis, Prometheus);
2. a wheelhouse: `pip wheel` on the host (same glibc and Python 3.11 as the base) of the
   shop's and Flower's pinned requirements, which the builds install with --no-index;
3. `docker build` of the shop's own Dockerfile on that base and of the stand-ins for the
   pulled images (infra/images/*/Dockerfile): `OFFLINE=1` makes compose use them
   (infra/compose.offline.yml).

    python -m infra.images.build [--only NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "infra" / "images"
WHEELHOUSE = ROOT / "wheelhouse"
REQUIREMENTS = (ROOT / "requirements.txt", HERE / "flower" / "requirements.txt")
SUITE = "bookworm"
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# Documentation, manual pages and translations are no use in a container.
SLIM = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
RECIPE_LABEL = "org.shop.recipe"
# pip evaluates environment markers with the host's Python, and the images run Debian's 3.11.2,
# for which redis-py also needs async-timeout (`python_full_version < "3.11.3"`).
DEBIAN_PYTHON_EXTRAS = ("async-timeout==5.0.1",)


@dataclass(frozen=True)
class RootFs:
    """A base image made of Debian packages (`essential` plus these), without the SLIM paths
    nor its own `excluded` ones (files its packages bring that the container never reads)."""

    image: str
    packages: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def recipe(self) -> str:
        return digest(SUITE, *MIRRORS, *SLIM, *self.packages, *self.excluded)


@dataclass(frozen=True)
class Image:
    """An image built from a Dockerfile with the classic builder (no registry, no buildx)."""

    image: str
    dockerfile: Path
    context: Path = ROOT
    args: dict[str, str] = field(default_factory=dict)


ROOT_FILESYSTEMS = (
    RootFs("shop-rootfs/python:bookworm", ("python3", "python3-venv", "passwd", "tzdata")),
    RootFs("shop-rootfs/rabbitmq:bookworm", ("rabbitmq-server",)),
    RootFs("shop-rootfs/redis:bookworm", ("redis-server",)),
    # Prometheus' web UI reads one file of moment-timezone, whose package adds 210 MB of data.
    RootFs(
        "shop-rootfs/prometheus:bookworm",
        ("prometheus", "busybox"),
        excluded=("/usr/share/javascript/moment-timezone/data/*",),
    ),
)
PYTHON_BASE = ROOT_FILESYSTEMS[0].image
IMAGES = (
    Image(
        "event-driven-shop:dev",
        ROOT / "Dockerfile",
        args={"BASE_IMAGE": PYTHON_BASE, "PIP_INSTALL_OPTIONS": "--no-index --find-links=/build"},
    ),
    Image("shop-offline/rabbitmq:3.10", HERE / "rabbitmq" / "Dockerfile", HERE / "rabbitmq"),
    Image("shop-offline/redis:7.0", HERE / "redis" / "Dockerfile", HERE / "redis"),
    Image("shop-offline/flower:2.0.1", HERE / "flower" / "Dockerfile", args={"BASE_IMAGE": PYTHON_BASE}),
    Image("shop-offline/prometheus:2.42", HERE / "prometheus" / "Dockerfile", HERE / "prometheus"),
)


class BuildError(Exception):
    """A step failed; its message says which and what it printed."""


def digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def say(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


def run(command: list[str], what: str, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def label_of(image: str) -> str | None:
    """The recipe an image was built from, or None when there is no such image."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', image],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build_rootfs(rootfs: RootFs, started: float) -> None:
    recipe = rootfs.recipe()
    if label_of(rootfs.image) == recipe:
        say(f"{rootfs.image}: up to date", started)
        return
    say(f"{rootfs.image}: mmdebstrap {' '.join(rootfs.packages)} ...", started)
    mmdebstrap = [
        "mmdebstrap",
        "--quiet",
        "--variant=essential",
        f"--include={','.join(rootfs.packages)}",
        *(f"--dpkgopt=path-exclude={path}" for path in (*SLIM, *rootfs.excluded)),
        SUITE,
        "-",
        *MIRRORS,
    ]
    with subprocess.Popen(mmdebstrap, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as tar:
        imported = subprocess.run(
            ["docker", "import", "--change", f"LABEL {RECIPE_LABEL}={recipe}", "-", rootfs.image],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        errors = tar.stderr.read().decode(errors="replace")
    if tar.returncode != 0 or imported.returncode != 0:
        failed = f"{rootfs.image}: mmdebstrap | docker import failed"
        raise BuildError(f"{failed}:\n{errors[-3000:]}{imported.stderr}")
    say(f"{rootfs.image}: imported", started)


def build_wheelhouse(started: float) -> None:
    """Wheels of every pinned requirement, for `pip install --no-index` inside the builds."""
    recipe = digest(sys.version, *DEBIAN_PYTHON_EXTRAS, *(path.read_text() for path in REQUIREMENTS))
    stamp = WHEELHOUSE / ".recipe"
    if stamp.exists() and stamp.read_text() == recipe:
        say("wheelhouse: up to date", started)
        return
    say("wheelhouse: pip wheel (from PyPI) ...", started)
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    requirements = [arg for path in REQUIREMENTS for arg in ("--requirement", str(path))]
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(WHEELHOUSE)]
    run([*pip_wheel, *requirements, *DEBIAN_PYTHON_EXTRAS], "pip wheel")
    stamp.write_text(recipe)
    say(f"wheelhouse: {len(list(WHEELHOUSE.glob('*.whl')))} wheels", started)


def build_image(image: Image, started: float) -> None:
    say(f"{image.image}: docker build ...", started)
    build_args = [arg for name, value in image.args.items() for arg in ("--build-arg", f"{name}={value}")]
    # The classic builder: BuildKit would need a buildx plugin, or a frontend image pulled
    # from a registry, where none is reachable.
    environment = {**os.environ, "DOCKER_BUILDKIT": "0"}
    command = ["docker", "build", "--quiet", "--tag", image.image, "--file", str(image.dockerfile)]
    run([*command, *build_args, str(image.context)], f"docker build of {image.image}", env=environment)
    say(f"{image.image}: built", started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [r.image for r in ROOT_FILESYSTEMS] + [i.image for i in IMAGES]
    parser.add_argument("--only", nargs="+", choices=names, help="build just these (and not what they need)")
    options = parser.parse_args(argv)
    wanted = set(options.only or names)
    started = time.monotonic()
    for tool in ("docker", "mmdebstrap"):
        if shutil.which(tool) is None:
            print(f"error: `{tool}` is not installed: apt-get install {tool}", file=sys.stderr)
            return 2
    try:
        # mmdebstrap waits mostly on downloads and dpkg: the root filesystems build side by side.
        with ThreadPoolExecutor(len(ROOT_FILESYSTEMS) + 1) as pool:
            steps = [pool.submit(build_rootfs, r, started) for r in ROOT_FILESYSTEMS if r.image in wanted]
            if wanted & {IMAGES[0].image, IMAGES[3].image}:
                steps.append(pool.submit(build_wheelhouse, started))
            for step in steps:
                step.result()
        for image in IMAGES:
            if image.image in wanted:
                build_image(image, started)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    say(f"every image is ready ({time.monotonic() - started:.0f} s in all)", started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
