# k2infra: the K2 Kafka topic architecture as a Pulumi program.
#   make up      set up everything and deploy the dev stack to the local platform
#   make up STACK=prod-local   the prod stack on the secure local cluster (make down STACK=prod-local)
#   make test    the whole suite: unit, integration and end-to-end
SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
export K2_TOOLS_DIR ?= $(HOME)/.cache/k2infra/tools
export PULUMI_HOME ?= $(K2_TOOLS_DIR)/pulumi-home
# The local dev stack keeps its state in the repo (gitignored) and holds no real secret, so a
# fixed passphrase is fine here; real stacks set their own PULUMI_CONFIG_PASSPHRASE or backend.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state/pulumi
export PULUMI_CONFIG_PASSPHRASE ?= k2-local-dev
export PULUMI_SKIP_UPDATE_CHECK := true
TOOLS_ENV := source tools/env.sh
# The policy pack runs with every preview and up: mandatory rules by default (prod), relaxed by
# policy/config/<stack>.json where one exists (dev).
POLICY := --policy-pack policy $(if $(wildcard policy/config/$(STACK).json),--policy-pack-config policy/config/$(STACK).json)

.PHONY: help venv tools tools-docker platform stack preview up down test test-unit lint bench clean docker docker-down

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Python virtualenv with the pinned dependencies

tools: venv ## build the Pulumi CLI, language host and Kafka provider (cached by version)
	bash tools/install-pulumi.sh

# The Docker provider is a long first build (10-20 min on 2 cores) that only the Docker local cluster
# needs: `make up` does without it; the suite and `make docker` build it.
tools-docker: venv ## tools, plus the Docker provider plugin (for k2infra:localCluster: docker)
	bash tools/install-pulumi.sh --with-docker

platform: venv ## start the local Kafka broker and Schema Registry (tools/platform.sh)
	bash tools/platform.sh start

stack: tools
	$(TOOLS_ENV)
	mkdir -p .state/pulumi
	pulumi stack select --create $(STACK) --non-interactive

preview: stack ## pulumi preview of STACK (default dev) with the policy pack
	$(TOOLS_ENV)
	pulumi preview --non-interactive --stack $(STACK) $(POLICY)

ifeq ($(STACK),prod-local)
# The prod shape locally: the secure cluster and the shipped prod stack on it (devkit/prod_local.py).
up: tools
	$(TOOLS_ENV)
	mkdir -p .state/pulumi
	$(PY) -m devkit.prod_local up --policy-pack policy

down:
	$(TOOLS_ENV)
	$(PY) -m devkit.prod_local down $(if $(ALLOW_DATA_LOSS),--allow-data-loss)
else
up: platform stack ## deploy STACK (dev: the local platform; prod-local: the secure cluster, docs/runbook.md)
	$(TOOLS_ENV)
	# An earlier run that was killed (stale lock, pending operations, topics missing from the state)
	# is recovered first; anything that needs a decision stops here with the commands to run.
	$(PY) -m k2infra recover --stack $(STACK)
	# --refresh: the local platform starts empty, so state from an earlier session is reconciled first.
	pulumi up --yes --refresh --non-interactive --stack $(STACK) $(POLICY)
	pulumi stack output --stack $(STACK) --json

down: ## destroy STACK and stop its platform (ALLOW_DATA_LOSS=1: even if topics hold records)
	$(TOOLS_ENV)
	if bash tools/platform.sh status >/dev/null 2>&1 && [ -d .state/pulumi ]; then
		# pulumi destroy never runs the program, so its data-loss guard cannot stop it: check first.
		$(PY) -m k2infra destroy-check --stack $(STACK) $(if $(ALLOW_DATA_LOSS),--allow-data-loss)
		pulumi destroy --yes --non-interactive --stack $(STACK) || true
	fi
	bash tools/platform.sh stop
endif

test: tools-docker ## the whole suite: provider (Go), unit, integration, end-to-end (starts its own platform)
	$(TOOLS_ENV)
	(cd tools/kafka-provider && GOFLAGS=-buildvcs=false go test ./...)
	$(PY) -m pytest tests

test-unit: venv ## unit tests only (no services, no Pulumi CLI)
	$(PY) -m pytest tests/unit

lint: venv ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: tools ## benchmarks against the local platform and the peers (Jikkou, topicctl); writes docs/benchmarks.md
	$(TOOLS_ENV)
	bash tools/bench/install-peers.sh
	$(PY) -m bench

docker: tools-docker ## Docker engine + registry-free base images for k2infra:localCluster: docker
	bash tools/docker/ci.sh up

docker-down: ## stop the Docker engine if `make docker` started it
	bash tools/docker/ci.sh down

clean: ## remove local state (not the cached tools)
	bash tools/platform.sh stop || true
	rm -rf .state .pytest_cache .ruff_cache
