# k2infra: the K2 Kafka topic architecture as a Pulumi program.
#   make up      set up everything and deploy the dev stack to the local platform
#   make up STACK=prod-local   the prod stack on the secure local cluster (make down STACK=prod-local)
#   make test    the whole suite: unit, integration and end-to-end
#   eval "$(make env)"   this shell: the built pulumi and the venv's python on PATH, the local backend
#   make V=1 ... every command and its whole output (default: a line per step, logs in .state/logs/)
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
# Quiet by default: a line per step, the whole output in .state/logs/<step>.log; `make V=1` shows it all.
Q := $(if $(V),,@)
export K2_VERBOSE := $(if $(V),1,)
RUN := bash tools/quiet.sh
# The policy pack runs with every preview and up: mandatory rules by default (prod), relaxed by
# policy/config/<stack>.json where one exists (dev).
POLICY := --policy-pack policy $(if $(wildcard policy/config/$(STACK).json),--policy-pack-config policy/config/$(STACK).json)

.PHONY: help env venv tools tools-docker monitoring mirror platform stack preview up down test test-unit lint bench clean docker docker-down

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The shell setup of docs/runbook.md §0, for `eval "$(make env)"`: only exports, no `pulumi login`
# (its credentials file is in the shared PULUMI_HOME, the default backend of every checkout on the
# machine) and no write anywhere. The backend and passphrase are the local stacks'; a shell that
# already sets its own keeps them.
env: ## print the shell setup: eval "$(make env)" (pulumi, python, the local backend and passphrase)
	@printf "export K2_TOOLS_DIR='%s' PULUMI_HOME='%s'\n" "$(K2_TOOLS_DIR)" "$(PULUMI_HOME)"
	printf ". '%s/tools/env.sh'\n" "$(CURDIR)"
	printf "export PATH='%s/$(VENV)/bin':\"\$$PATH\"\n" "$(CURDIR)"
	printf "export PULUMI_BACKEND_URL='%s' PULUMI_CONFIG_PASSPHRASE='%s'\n" "$(PULUMI_BACKEND_URL)" "$(PULUMI_CONFIG_PASSPHRASE)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(Q)$(RUN) venv "virtualenv $(VENV) with the pinned dependencies" bash -c '\
		python3 -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip \
		&& $(PY) -m pip install --quiet -r requirements-dev.txt'
	touch $@

venv: $(VENV)/.installed ## Python virtualenv with the pinned dependencies

tools: venv ## build the Pulumi CLI, language host and Kafka provider (cached by version)
	$(Q)$(RUN) tools "Pulumi CLI and Kafka provider (cached; a first build takes ~20 min)" bash tools/install-pulumi.sh

# The Docker provider is a long first build (10-20 min on 2 cores) that only the Docker local cluster
# needs: `make up` does without it; the suite and `make docker` build it.
tools-docker: venv ## tools, plus the Docker provider plugin (for k2infra:localCluster: docker)
	bash tools/install-pulumi.sh --with-docker

monitoring: ## promtool from Debian's prometheus package (tools/monitoring/install.sh; no service is started)
	bash tools/monitoring/install.sh

mirror: ## MirrorMaker 2 (connect-mirror) from Maven Central into the tools cache (tools/mirror/mirrormaker.sh)
	bash tools/mirror/mirrormaker.sh install >/dev/null

platform: venv ## start the local Kafka broker and Schema Registry (tools/platform.sh)
	$(Q)$(RUN) platform "local Kafka and Schema Registry (tools/platform.sh start)" bash tools/platform.sh start

stack: tools
	$(Q)$(TOOLS_ENV)
	mkdir -p .state/pulumi
	$(RUN) stack "stack $(STACK) in .state/pulumi" pulumi stack select --create $(STACK) --non-interactive

preview: stack ## pulumi preview of STACK (default dev) with the policy pack
	$(Q)$(TOOLS_ENV)
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
	$(Q)$(TOOLS_ENV)
	# An earlier run that was killed (stale lock, pending operations, topics missing from the state)
	# is recovered first; anything that needs a decision stops here with the commands to run.
	$(RUN) recover "recover check of stack $(STACK)" $(PY) -m k2infra recover --stack $(STACK)
	# --refresh: the local platform starts empty, so state from an earlier session is reconciled first.
	$(RUN) up "pulumi up of stack $(STACK) with the policy pack" \
		pulumi up --yes --refresh --non-interactive --stack $(STACK) $(POLICY)
	pulumi stack output --stack $(STACK) --json | $(PY) tools/up_summary.py --log .state/logs/up.log --stack $(STACK)

down: ## destroy STACK and stop its platform (ALLOW_DATA_LOSS=1: even if topics hold records)
	$(Q)$(TOOLS_ENV)
	if bash tools/platform.sh status >/dev/null 2>&1 && [ -d .state/pulumi ]; then
		# pulumi destroy never runs the program, so its data-loss guard cannot stop it: check first
		# (a refusal stops here, before anything is destroyed or stopped).
		$(PY) -m k2infra destroy-check --stack $(STACK) $(if $(ALLOW_DATA_LOSS),--allow-data-loss)
		$(RUN) destroy "pulumi destroy of stack $(STACK)" pulumi destroy --yes --non-interactive --stack $(STACK) || true
	fi
	$(RUN) platform-stop "stopping the local platform" bash tools/platform.sh stop
endif

test: tools-docker monitoring mirror ## the whole suite: provider (Go), unit, integration, end-to-end (starts its own platform)
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
