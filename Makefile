# k2infra: the K2 Kafka topic architecture as a Pulumi program.
#   make up      set up everything and deploy the dev stack to the local platform
#   make up STACK=prod-local   the prod stack on the secure local cluster (make down STACK=prod-local)
#   make test    the whole suite: unit, integration and end-to-end
#   make monitor exporter + Prometheus + Alertmanager for STACK next to the running platform (make monitor-down)
#   K2_STATE=postgres make up   the state in a local PostgreSQL cluster (docs/runbook.md §16)
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
# K2_STATE=postgres: the state in a local PostgreSQL cluster under .state/postgres (tools/postgres.sh,
# started by `make platform`) instead of files; a team sets PULUMI_BACKEND_URL=postgres://... itself.
K2_STATE ?= file
ifeq ($(K2_STATE),postgres)
export PULUMI_BACKEND_URL ?= $(shell bash tools/postgres.sh url)
endif
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

.PHONY: help env venv tools tools-docker monitoring monitor monitor-down mirror state-db platform stack preview up down test test-unit lint bench bench-observe clean docker docker-down

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

state-db: ## Debian's PostgreSQL server for K2_STATE=postgres and the suite (tools/postgres.sh install; nothing started)
	bash tools/postgres.sh install

monitoring: ## Prometheus, promtool, Alertmanager, Chromium from Debian (tools/monitoring/install.sh; no service is started)
	bash tools/monitoring/install.sh

# After `make up`: the exporter, Prometheus (the generated rules and console dashboards) and Alertmanager
# of STACK, in .state/monitor (devkit/monitor.py); prints the URLs.
monitor: venv monitoring ## exporter + Prometheus + Alertmanager for STACK next to the running platform; prints the URLs
	$(PY) -m devkit.monitor start --stack $(STACK)

monitor-down: ## stop what `make monitor` started
	$(PY) -m devkit.monitor stop

mirror: ## MirrorMaker 2 (connect-mirror) from Maven Central into the tools cache (tools/mirror/mirrormaker.sh)
	bash tools/mirror/mirrormaker.sh install >/dev/null

platform: venv ## start the local Kafka broker and Schema Registry (tools/platform.sh); K2_STATE=postgres: PostgreSQL too
	$(Q)$(RUN) platform "local Kafka and Schema Registry (tools/platform.sh start)" bash tools/platform.sh start
	$(if $(filter postgres,$(K2_STATE)),$(RUN) postgres "PostgreSQL for the state (tools/postgres.sh start)" bash tools/postgres.sh start)

stack: tools
	$(Q)$(TOOLS_ENV)
	mkdir -p .state/pulumi
	# A backend that cannot be used is said in one line (URL, password masked, and the fix) before any pulumi.
	$(RUN) state "state backend check" $(PY) -m k2infra state check
	$(RUN) stack "stack $(STACK) in its backend" pulumi stack select --create $(STACK) --non-interactive

preview: stack ## pulumi preview of STACK (default dev) with the policy pack
	$(Q)$(TOOLS_ENV)
	pulumi preview --non-interactive --stack $(STACK) $(POLICY)

ifeq ($(STACK),prod-local)
# The prod shape locally: the secure cluster and the shipped prod stack on it (devkit/prod_local.py).
up: tools
	$(TOOLS_ENV)
	mkdir -p .state/pulumi
	$(if $(filter postgres,$(K2_STATE)),bash tools/postgres.sh start)
	$(PY) -m k2infra state check
	$(PY) -m devkit.prod_local up --policy-pack policy

down:
	$(TOOLS_ENV)
	$(PY) -m devkit.prod_local down $(if $(ALLOW_DATA_LOSS),--allow-data-loss)
	$(if $(filter postgres,$(K2_STATE)),bash tools/postgres.sh stop)
else
up: platform stack ## deploy STACK (dev: the local platform; prod-local: the secure cluster, docs/runbook.md)
	$(Q)$(TOOLS_ENV)
	# An earlier run that was killed (stale lock, pending operations, topics missing from the state)
	# is recovered first; anything that needs a decision stops here with the commands to run.
	$(RUN) recover "recover check of stack $(STACK)" $(PY) -m k2infra recover --stack $(STACK)
	# --refresh: the local platform starts empty, so state from an earlier session is reconciled first.
	# --message: who ran it, kept in the stack's history (`pulumi stack history`, docs/runbook.md "Team state in PostgreSQL").
	$(RUN) up "pulumi up of stack $(STACK) with the policy pack" \
		pulumi up --yes --refresh --non-interactive --stack $(STACK) $(POLICY) \
		--message "$$(id -un)@$$(hostname): make up at $$(git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
	pulumi stack output --stack $(STACK) --json | $(PY) tools/up_summary.py --log .state/logs/up.log --stack $(STACK)

down: ## destroy STACK and stop its platform (ALLOW_DATA_LOSS=1: even if topics hold records)
	$(Q)$(TOOLS_ENV)
	if bash tools/platform.sh status >/dev/null 2>&1 && { [ -d .state/pulumi ] || [ "$(K2_STATE)" = postgres ]; }; then
		# pulumi destroy never runs the program, so its data-loss guard cannot stop it: check first
		# (a refusal stops here, before anything is destroyed or stopped).
		$(PY) -m k2infra destroy-check --stack $(STACK) $(if $(ALLOW_DATA_LOSS),--allow-data-loss)
		$(RUN) destroy "pulumi destroy of stack $(STACK)" pulumi destroy --yes --non-interactive --stack $(STACK) || true
	fi
	$(RUN) platform-stop "stopping the local platform" bash tools/platform.sh stop
	$(if $(filter postgres,$(K2_STATE)),$(RUN) postgres-stop "stopping PostgreSQL (its data stays in .state/postgres)" bash tools/postgres.sh stop)
endif

test: tools-docker monitoring state-db mirror ## the whole suite: provider (Go), unit, integration, end-to-end (starts its own platform)
	$(TOOLS_ENV)
	(cd tools/kafka-provider && GOFLAGS=-buildvcs=false go test ./...)
	$(PY) -m pytest tests

test-unit: venv ## unit tests only (no services, no Pulumi CLI)
	$(PY) -m pytest tests/unit

lint: venv ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: tools state-db ## benchmarks against the local platform and the peers (Jikkou, topicctl); writes docs/benchmarks.md
	$(TOOLS_ENV)
	bash tools/bench/install-peers.sh
	$(PY) -m bench
	# The state backends compared (file, PostgreSQL), one run; figures printed.
	$(PY) -m bench.state_backends
	# Where a pulumi run's time goes (traced phases, provider calls, CPU by program); figures printed.
	$(PY) -m bench.split --sizes 600,3000

bench-observe: tools ## the monitoring read at 600 and 3,000 topics with 20 groups, and lag (bench/observe.py; docs/monitoring.md)
	$(TOOLS_ENV) && $(PY) -m bench --only observe

docker: tools-docker ## Docker engine + registry-free base images for k2infra:localCluster: docker
	bash tools/docker/ci.sh up

docker-down: ## stop the Docker engine if `make docker` started it
	bash tools/docker/ci.sh down

clean: ## remove local state (not the cached tools)
	bash tools/platform.sh stop || true
	if [ -x $(PY) ]; then $(PY) -m devkit.monitor stop || true; fi  # its pid files are in .state
	[ ! -d .state/postgres ] || bash tools/postgres.sh stop || true
	rm -rf .state .pytest_cache .ruff_cache
