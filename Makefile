# Two commands on a fresh machine: `make deploy` and `make test`. Everything else is for the inner loop.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VENV_BIN := $(abspath $(VENV))/bin
TODO_CACHE ?= $(HOME)/.cache/todo
FRONTEND := apps/frontend
ARTIFACTS := test-artifacts

export TODO_CACHE
export PATH := $(TODO_CACHE)/tools/bin:$(VENV_BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Keep Python tooling from writing bytecode into the tree.
export PYTHONDONTWRITEBYTECODE := 1

PYTEST := $(VENV_BIN)/pytest -p no:cacheprovider
TIERS := lint unit backend frontend e2e images docker chart cluster minikube

.PHONY: help preflight setup venv kube-clis node deploy-tools frontend-deps api-types checkov kube-score cluster-tools control-plane minikube minikube-offline minikube-offline-autoscaling deploy deploy-cluster teardown status test test-fast services system-deps postgres dockerd \
        cluster-up cluster-status cluster-down \
        $(addprefix test-,$(TIERS)) test-lint-python test-lint-yaml \
        test-lint-ansible test-lint-helm test-lint-frontend lock bench clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- setup
# preflight.sh python: Python >= 3.11 with venv/ensurepip, and a half-made .venv removed first.
$(VENV)/.installed: requirements/dev.txt apps/backend/pyproject.toml scripts/kubernetes_core.py
	@PYTHON='$(PYTHON)' VENV='$(VENV)' bash scripts/preflight.sh python
	@test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(VENV_BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e apps/backend
	$(VENV_BIN)/python scripts/kubernetes_core.py install --venv $(VENV)
	@touch $@

venv: $(VENV)/.installed ## Python venv with pinned deploy/test tools (and kubernetes.core 6.5.0 in $(VENV)/collections)

kube-clis: venv ## pinned helm + kubectl into $(TODO_CACHE)/tools (theirs if versions fit)
	@$(VENV_BIN)/python scripts/tools.py install helm kubectl

# deploy, status and teardown run no kubectl: helm is all they need.
deploy-tools: venv
	@$(VENV_BIN)/python scripts/tools.py install helm

# The frontend image's Node (LTS), not the host's: npm, next, vitest and the e2e stack run on it.
node: venv ## pinned Node.js and npm into $(TODO_CACHE)/tools, linked into tools/bin (first on make's PATH)
	@$(VENV_BIN)/python -m tools.node_runtime install

$(FRONTEND)/node_modules/.package-lock.json: $(FRONTEND)/package-lock.json | node
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	@touch $@

frontend-deps: $(FRONTEND)/node_modules/.package-lock.json ## the frontend's node_modules from its lock (npm ci, on the pinned Node)

# The backend's tests fail when openapi.json is stale, the frontend's when api.ts is.
api-types: venv frontend-deps ## regenerate the frontend's API types from the backend's OpenAPI document
	$(VENV_BIN)/todo-api openapi > $(FRONTEND)/src/generated/openapi.json
	cd $(FRONTEND) && npm run --silent api-types

checkov: ## pinned checkov in its own venv under $(TODO_CACHE) (its deps clash with .venv)
	@bash scripts/checkov.sh --install-only

kube-score: ## pinned kube-score built from the Go module proxy into $(TODO_CACHE)/tools (needs Go)
	@bash scripts/kube-score.sh --install-only

cluster-tools: venv ## compile the pinned Kubernetes, etcd, kwok, CoreDNS and Traefik from their Go modules (cached)
	$(VENV_BIN)/python -m tools.cluster build

control-plane: venv ## compile only what the local control plane runs (Kubernetes, etcd, kwok; cached)
	$(VENV_BIN)/python -m tools.cluster build --control-plane

minikube: venv ## a real minikube (pinned, compiled from its Go module; needs Go) into $(TODO_CACHE)/tools/bin, unless you have one
	@$(VENV_BIN)/python -m tools.minikube install

minikube-offline: venv dockerd ## what `minikube start` downloads, made here for a machine without container registries (Go, Docker; root)
	$(VENV_BIN)/python -m tools.minikube offline

minikube-offline-autoscaling: venv dockerd ## minikube-offline and the metrics-server addon's image, for -e todo_autoscaling=true on such a machine
	$(VENV_BIN)/python -m tools.minikube offline --with-metrics-server

setup: venv kube-clis frontend-deps checkov kube-score cluster-tools minikube ## install everything into .venv, node_modules and the tool cache; run nothing

lock: ## regenerate requirements/dev.txt from requirements/dev.in (pins and their hashes)
	$(VENV_BIN)/uv pip compile --quiet --python-version 3.11 --generate-hashes requirements/dev.in -o requirements/dev.txt

# ---------------------------------------------------------------- deploy
preflight: ## fail in a second when make deploy cannot work here (Python, venv, tools present)
	@PYTHON='$(PYTHON)' VENV='$(VENV)' bash scripts/preflight.sh

deploy: preflight venv deploy-tools ## deploy to Minikube: ansible-playbook playbooks/deploy-dev.yml
	ansible-playbook playbooks/deploy-dev.yml $(ANSIBLE_ARGS)

deploy-cluster: preflight venv deploy-tools ## deploy to the cluster and registry inventory/cluster names (no Minikube; docs/ansible.md)
	ansible-playbook -i inventory/cluster playbooks/deploy-cluster.yml $(ANSIBLE_ARGS)

teardown: venv deploy-tools ## remove the release and namespace (ANSIBLE_ARGS="-e todo_teardown_minikube=true" also deletes the profile)
	ansible-playbook playbooks/teardown.yml $(ANSIBLE_ARGS)

status: venv deploy-tools ## release, pods, URL and health
	ansible-playbook playbooks/status.yml $(ANSIBLE_ARGS)

# ---------------------------------------------------------------- local control plane (kwok nodes)
# API-level tests only (admission, Helm hooks, the playbooks' API calls): pods that really run are
# the Minikube tier's (make test-minikube).
cluster-up: venv kube-clis ## local control plane (etcd, kube-apiserver, controller-manager, scheduler) with two kwok nodes
	$(VENV_BIN)/python -m tools.cluster up

cluster-status: venv ## the local control plane's processes, API health and nodes
	$(VENV_BIN)/python -m tools.cluster status

cluster-down: venv ## stop the local control plane and remove everything it created
	$(VENV_BIN)/python -m tools.cluster down

# ---------------------------------------------------------------- test
system-deps: ## the Debian packages the tests need (installs only missing ones; root)
	bash scripts/system-deps.sh

postgres: system-deps ## start the PostgreSQL the backend and e2e tests use (idempotent)
	bash scripts/pg-up.sh

dockerd: venv system-deps ## a Docker daemon that answers (starts Debian's docker.io when none does; root)
	$(VENV_BIN)/python -m tools.docker ensure-daemon

services: postgres dockerd ## system packages, PostgreSQL and dockerd the tests need

# The long compiles (Kubernetes, minikube, the offline node's images: ~25 min on a fresh machine)
# run in the background while the tiers that need none of them test; see scripts/run-tiers.sh.
# In the order the tiers need them: minikube (docker), the control plane (chart, cluster), then
# the offline node (minikube), which the cluster tier's run leaves time for.
MEANWHILE := $(MAKE) --no-print-directory minikube control-plane minikube-offline

test: venv kube-clis frontend-deps checkov kube-score services ## every tier, each timed; a summary line at the end (compiles meanwhile)
	bash scripts/run-tiers.sh --meanwhile '$(MEANWHILE)' $(TIERS)

test-fast: venv kube-clis frontend-deps ## lint + unit: no cluster, no Docker, no root
	bash scripts/run-tiers.sh lint unit

test-lint: test-lint-python test-lint-yaml test-lint-ansible test-lint-helm test-lint-frontend ## tier: every linter below (no services)

# Every tier declares what it needs, so `make test-<tier>` works on a fresh clone.
test-lint-python: venv ## ruff
	ruff check .

test-lint-yaml: venv ## yamllint --strict
	yamllint --strict .

test-lint-ansible: venv ## ansible-lint, production profile
	ansible-lint --profile production

test-lint-helm: kube-clis ## helm lint --strict of the chart
	helm lint --strict chart/todo -f chart/todo/values-dev.yaml \
	  --set existingSecret=lint-only --set backend.image.tag=lint --set frontend.image.tag=lint

test-lint-frontend: frontend-deps ## eslint and tsc of the frontend
	cd $(FRONTEND) && npm run --silent lint && npm run --silent typecheck

test-unit: venv kube-clis ## tier: tests/unit (Ansible, tools, collection): no Docker, no root, no minikube binary
	$(PYTEST) tests/unit --junitxml=$(ARTIFACTS)/junit/unit.xml

test-backend: venv postgres ## tier: the API's tests and schemathesis on a real PostgreSQL
	$(PYTEST) apps/backend/tests --junitxml=$(ARTIFACTS)/junit/backend.xml

test-frontend: frontend-deps ## tier: the frontend's unit tests (vitest)
	cd $(FRONTEND) && npm test -- --reporter=default --reporter=junit \
	  --outputFile.junit=$(CURDIR)/$(ARTIFACTS)/junit/frontend-unit.xml

test-e2e: venv frontend-deps postgres ## tier: the built app in Chromium against the real backend (PostgreSQL)
	$(PYTEST) tests/e2e --junitxml=$(ARTIFACTS)/junit/e2e.xml

test-images: venv ## tier: builds and checks both images (Docker)
	$(PYTEST) tests/images --junitxml=$(ARTIFACTS)/junit/images.xml

test-docker: venv kube-clis minikube dockerd ## tier: tests/docker, the roles and tools against a real Docker engine and the real minikube binary (Docker, root)
	$(PYTEST) tests/docker --junitxml=$(ARTIFACTS)/junit/docker.xml

test-chart: venv kube-clis checkov kube-score ## tier: render, schema, policy and install tests of the chart
	$(PYTEST) tests/chart --junitxml=$(ARTIFACTS)/junit/chart.xml

# Each module of MINIKUBE_MORE starts a profile of its own (15-20 minutes between them), so they
# are not in `make test` until they share the app's profile.
MINIKUBE_MORE := tests/minikube/test_two_nodes.py tests/minikube/test_deploy_cluster.py tests/minikube/test_autoscaling.py

test-minikube: venv kube-clis frontend-deps minikube-offline services ## tier: the user's deploy, the app under load and faults, the browser, on real Minikube profiles (Docker, root)
	$(PYTEST) tests/minikube $(MINIKUBE_MORE:%=--ignore=%) --junitxml=$(ARTIFACTS)/junit/minikube.xml

test-minikube-more: venv kube-clis frontend-deps minikube-offline-autoscaling services ## heavier tier, not in make test: two nodes (drain, node loss), deploy-cluster.yml through a registry, and autoscaling, each on a profile of its own (Docker, root)
	$(PYTEST) $(MINIKUBE_MORE) --junitxml=$(ARTIFACTS)/junit/minikube-more.xml

test-cluster: venv kube-clis control-plane services ## tier: API-level tests of the playbooks on the local control plane (kwok nodes)
	$(PYTEST) tests/cluster --junitxml=$(ARTIFACTS)/junit/cluster.xml

bench: setup services ## run every benchmark in bench/ (prints numbers)
	@for b in bench/*.py; do echo "== $$b"; $(VENV_BIN)/python $$b || exit 1; done

clean: ## remove build output and test artifacts (keeps .venv and the tool cache)
	rm -rf $(ARTIFACTS) $(FRONTEND)/.next .pytest_cache .ruff_cache .hypothesis
