# One image for every process of every service: docker-compose.yml gives each container
# its command (a line of infra/Procfile) and its environment.
#
# Plain Dockerfile features only (no `# syntax=` line, no RUN --mount), so the classic builder
# builds it too: Compose falls back to it where no buildx plugin is installed.
# Two build arguments make it build where no registry and no package index is reachable
# (`make images` passes both):
#   BASE_IMAGE           any Debian-like image with python3 3.11 and its venv module
#   PIP_INSTALL_OPTIONS  "--no-index --find-links=/build": the wheels that `make images` built
#                        on the host into ./wheelhouse, instead of downloading them from PyPI
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
# ./wheelhouse exists only where `make images` built it (its wheels land in /build); the
# wildcard lets it be absent.
COPY requirements.txt wheelhous[e] ./
# Wheels only: nothing is compiled, and the virtualenv is copied whole into the final stage.
# hadolint ignore=SC2086
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: ${PIP_INSTALL_OPTIONS} -r requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --no-create-home --shell /usr/sbin/nologin shop
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY shared ./shared
COPY services ./services
COPY infra ./infra
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "infra.healthcheck"]
