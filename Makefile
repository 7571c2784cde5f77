# The event-driven shop. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

AMQP_HOST ?= 127.0.0.1
REDIS_HOST ?= 127.0.0.1

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

.PHONY: lint
lint: venv ## Ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'
