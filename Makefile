# The event-driven shop. `make help` lists the targets.
#
# Two modes, same targets: docker compose where a Docker engine answers (`docker info`),
# otherwise local processes under supervisord (infra/dev/). Force one with MODE=local or
# MODE=compose. Both run the commands of infra/Procfile.
# No registry reachable? `make images` builds every image from Debian packages and PyPI, and
# OFFLINE=1 makes the compose-mode targets use them (infra/compose.offline.yml).
# CLUSTER=1 runs the broker as a three-node cluster in compose mode (infra/compose.cluster.yml).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

AMQP_HOST ?= 127.0.0.1
REDIS_HOST ?= 127.0.0.1

# Evaluated only by the targets that use it, so `make test` never asks Docker.
MODE ?= $(shell docker info >/dev/null 2>&1 && echo compose || echo local)
OFFLINE ?=
export OFFLINE
CLUSTER ?=
export CLUSTER
# docker compose with the files of the mode, after checks that say what to do (infra/compose.py).
COMPOSE := $(BIN)/python -m infra.compose
DEV := $(BIN)/python -m infra.dev
# In compose, SERVICE=payments means every payments-* service; SERVICE=payments-worker just that one.
compose_services = $(if $(filter compose,$(MODE)),$(shell $(COMPOSE) --profile '*' config --services | grep -xE '$(SERVICE)(-[a-z0-9]+)?'))
# $(call by_mode,compose command,local command)
by_mode = if [ "$(MODE)" = compose ]; then $(1); else $(2); fi
# The operator endpoints' token from .env (infra/secrets.py): the dashboard asks for it once.
print_operator_token = echo "operator token (Authorization: Bearer, asked for once by the dashboard): $$($(BIN)/python -c \
  'from infra import secrets; print(secrets.environment().get("OPERATOR_TOKEN", ""))')"
require_service = $(if $(SERVICE),,$(error SERVICE is required, e.g. SERVICE=payments or SERVICE=payments-worker))

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(BIN)/.installed ## Create the virtualenv with the pinned dependencies

.PHONY: check-services
check-services: venv ## Check that RabbitMQ and Redis answer on localhost
	@$(BIN)/python -m infra.check_services

.PHONY: test
test: venv check-services ## Run the whole test suite (unit, integration, e2e) on the real broker
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: venv ## Fuzz the decoder, handlers, dashboard view and email writer far longer than CI; prints the cases tried per fuzzer
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q --timeout=0 --hypothesis-show-statistics tests/fuzz $(PYTEST_ARGS)

.PHONY: lint
lint: venv ## Ruff lint and format check, hadolint on the Dockerfiles
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile infra/images/*/Dockerfile

.PHONY: k8s-check
k8s-check: venv ## Render deploy/k8s's overlays with kustomize and validate every object, offline (tests/static/test_k8s.py)
	$(BIN)/pytest -q tests/static/test_k8s.py

.PHONY: images
images: venv ## Build every image compose needs from Debian packages and PyPI (no registry needed)
	@$(BIN)/python -m infra.images.build

.PHONY: secrets
secrets: venv ## Create .env with random passwords if missing, add the names it lacks (never changes a value)
	@$(BIN)/python -m infra.secrets

.PHONY: run
run: venv secrets ## Run the whole stack: docker compose up --build --wait where Docker runs, else `make dev`
	@if [ "$(MODE)" = compose ]; then \
	  $(COMPOSE) up --build --detach --wait && $(COMPOSE) ps && \
	  echo "UI http://localhost:8000  APIs :8001-8004  RabbitMQ http://localhost:15672  Flower http://localhost:5555  Mailpit http://localhost:8025  Prometheus http://localhost:9090  Grafana http://localhost:3000  Jaeger http://localhost:16686" && \
	  echo "logins (passwords in .env): RabbitMQ and Flower admin/RABBITMQ_ADMIN_PASSWORD, Mailpit mail/MAILPIT_UI_PASSWORD" && \
	  $(print_operator_token); \
	else $(MAKE) --no-print-directory dev; fi

.PHONY: dev
dev: venv secrets check-services ## Run the whole stack as local processes (supervisord) against local RabbitMQ/Redis
	@$(DEV) up && $(print_operator_token)

.PHONY: down
down: venv ## Stop the whole stack (compose keeps the volumes: the orders and queued messages stay)
	@$(call by_mode,$(COMPOSE) --profile '*' down,$(DEV) down)

.PHONY: logs
logs: venv ## Follow the logs of every process, prefixed by process name
	@$(call by_mode,$(COMPOSE) logs --follow --tail 20,$(DEV) logs)

.PHONY: ps
ps: venv ## List the processes and their state
	@$(call by_mode,$(COMPOSE) ps,$(DEV) ps)

.PHONY: stop
stop: venv ## Stop a service (SERVICE=payments) or one process type (SERVICE=payments-worker)
	$(require_service)
	@$(call by_mode,$(COMPOSE) stop $(compose_services),$(DEV) stop $(SERVICE))

.PHONY: start
start: venv ## Start again what `make stop SERVICE=x` stopped
	$(require_service)
	@$(call by_mode,$(COMPOSE) up --detach --wait --no-deps $(compose_services),$(DEV) start $(SERVICE))

.PHONY: scale
scale: venv ## Run N replicas of a process type: SERVICE=notifications-worker N=4
	$(require_service)
	$(if $(N),,$(error N is required, e.g. N=4))
	@$(call by_mode,$(COMPOSE) up --detach --no-deps --no-recreate --scale $(SERVICE)=$(N) $(SERVICE),$(DEV) scale $(SERVICE) $(N))

# The demos drive a RUNNING stack (`make run` or `make dev`) through make stop/start/scale,
# the HTTP APIs and the broker. Each prints a narrated report, saves a plot under
# artifacts/<demo>/ and ends with one JSON line. Shorter runs: DEMO_ARGS="--help".
.PHONY: demo-scale
demo-scale: venv ## Demo: drain an email backlog with 1, 2, 4, 8 notifications workers (needs a running stack)
	@MODE=$(MODE) $(BIN)/python -m demos.scale $(DEMO_ARGS)

.PHONY: demo-failure
demo-failure: venv ## Demo: stop payments for 30 s under load, then the same to a coupled variant (running stack)
	@MODE=$(MODE) $(BIN)/python -m demos.failure $(DEMO_ARGS)

.PHONY: demo-subscriber
demo-subscriber: venv ## Demo: add loyalty to a running shop: backfill, then live, orders untouched (running stack)
	@MODE=$(MODE) $(BIN)/python -m demos.subscriber $(DEMO_ARGS)

.PHONY: bench-bus
bench-bus: venv check-services ## Benchmark the event bus: library vs raw pika (artifacts/bench-bus/)
	$(BIN)/python -m bench.bus

.PHONY: bench
bench: venv check-services ## End-to-end benchmark in its own sandboxed stack vs a bare pika chain (artifacts/bench/); BENCH_ARGS="--help"
	$(BIN)/python -m bench.e2e $(BENCH_ARGS)

MINUTES ?= 30
RATE ?= 40
.PHONY: soak
soak: venv check-services ## Soak: MINUTES=30 at RATE=40 orders/s in its own stack; memory and latency over time, exits 1 if they grow (artifacts/soak/)
	$(BIN)/python -m bench.soak --minutes $(MINUTES) --rate $(RATE) $(SOAK_ARGS)

ORDERS_URL ?= http://127.0.0.1:$(or $(ORDERS_PORT),8001)
USERS ?= 50
DURATION ?= 60s
.PHONY: load
load: venv ## Locust load test of the order API (running stack); USERS=50 DURATION=60s, UI=1 for its web UI on :8089
	$(BIN)/locust -f load/locustfile.py --host $(ORDERS_URL) \
	  $(if $(UI),,--headless --users $(USERS) --spawn-rate 10 --run-time $(DURATION) --only-summary)

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'
