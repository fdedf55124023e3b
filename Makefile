# Soak Harness: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs first (idempotent): .venv, the package with its dev
# extras, the pinned toxiproxy-server (built with Go if missing), the Go sample.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# e2e and integration runs mostly wait on their phase clocks (a full suite uses ~0.3 of a core
# on average), so four workers share two cores comfortably and keep `make test` short.
PYTEST_WORKERS ?= 4

.PHONY: setup setup-test setup-test-tools demo test test-compose test-kube test-unit test-integration test-e2e soak lint typecheck clean-reports help

# The local Kubernetes cluster (scripts/kube-cluster.sh, docs/kubernetes.md) for the kube e2e
# suite: only where no KUBECONFIG names a cluster of the user's (the suite then uses that one)
# and we are root on Linux (elsewhere the suite skips, saying why).
KUBE_LOCAL = [ -z "$$KUBECONFIG" ] && [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ]
# stop it and prove nothing of it is left (process, namespace, veth, mount, cgroup)
KUBE_STOP = if $(KUBE_LOCAL); then scripts/kube-cluster.sh stop \
	  && scripts/kube-cluster.sh check-clean || { [ $$code -ne 0 ] || code=1; }; fi

help:
	@echo "make setup  - create .venv, install the harness (+dev tools) and toxiproxy-server"
	@echo "make demo   - setup, then run scenarios/smoke.yaml and print the report's path"
	@echo "make test   - setup, then the whole test suite (unit, integration, e2e, compose, kube)"
	@echo "make soak   - setup, then the long soaks (every pattern at full length, then the 40 min nightly)"
	@echo "make lint   - ruff and mypy"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/harness setup

# What the tests need beyond a run: helm (built with Go, pinned) for the chart validation,
# Debian's chromium for the report rendering test, Debian's nginx and redis-server as
# third-party targets of the fault-client tests and scenarios/examples (installed when we are
# root with apt-get; gunicorn, the examples' PyPI server, comes with the dev extras), and a
# Docker engine with Compose v2 and buildable base images for the compose tests
# (scripts/docker-engine.sh: does nothing where `docker compose` already works and the
# official images can be pulled); iproute2, iptables and nsenter (util-linux) for the
# network-namespace tests (docs/network-faults.md; installed when root with apt-get); and the
# local Kubernetes cluster with the harness and Toxiproxy images imported
# (scripts/kube-cluster.sh). A cold cluster is mostly a CPU-bound Go build and a cold engine
# mostly downloads: the two run side by side.
setup-test: setup-test-tools
	@kpid=""; if $(KUBE_LOCAL); then scripts/kube-cluster.sh up >/dev/null & kpid=$$!; \
	else echo "kube-cluster: not started (KUBECONFIG is set, or not root on Linux)"; fi; \
	scripts/docker-engine.sh up || { [ -z "$$kpid" ] || wait $$kpid; exit 1; }; \
	if [ -n "$$kpid" ]; then wait $$kpid && scripts/kube-cluster.sh images || exit 1; fi

setup-test-tools: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/validate-deploy.sh --install-helm
	scripts/third-party-servers.sh
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the report rendering test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not installed and cannot install it: the browser test will skip"; fi
	@missing=""; for t in ip iptables nsenter nstat; do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then echo "ip, iptables, nsenter, nstat: present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing iproute2, iptables, util-linux for the network-namespace tests (missing:$$missing)..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables util-linux >/dev/null; \
	else echo "missing:$$missing and cannot install them: the network-namespace tests will fail"; fi

demo: setup
	@$(BIN)/harness run scenarios/smoke.yaml --out reports/demo-$$(date -u +%Y%m%dT%H%M%SZ) ; \
	  code=$$?; echo "report: $$(ls -td reports/demo-* | head -1)/report.html"; exit $$code

# The compose tests share one xdist group (they publish fixed loopback ports), the kube tests
# another (one node): loadgroup. Whatever the outcome, the local cluster and the dockerd the
# scripts started are stopped afterwards, and the cluster is checked to have left nothing
# (HARNESS_KEEP_ENGINE=1 keeps both for warm re-runs); the exit code is the tests'.
test: setup-test
	@code=0; \
	{ $(BIN)/ruff check . && $(BIN)/mypy \
	  && PATH="$(CURDIR)/$(BIN):$$PATH" scripts/validate-deploy.sh \
	  && $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); } \
	  || code=$$?; \
	if [ -z "$(HARNESS_KEEP_ENGINE)" ]; then $(KUBE_STOP); \
	  scripts/docker-engine.sh stop || { [ $$code -ne 0 ] || code=1; }; fi; \
	exit $$code

# the Kubernetes e2e suite alone, on the local cluster (brought up if needed, stopped
# afterwards) or on the cluster KUBECONFIG names
test-kube: setup-test
	@code=0; $(BIN)/python -m pytest tests/e2e/kube $(PYTEST_ARGS) || code=$$?; \
	if [ -z "$(HARNESS_KEEP_ENGINE)" ]; then $(KUBE_STOP); scripts/docker-engine.sh stop; fi; \
	exit $$code

# the compose tests alone, on a real engine (brought up if needed, stopped afterwards)
test-compose: setup
	@code=0; scripts/docker-engine.sh up || exit $$?; \
	$(BIN)/python -m pytest tests/e2e/test_compose_engine.py $(PYTEST_ARGS) || code=$$?; \
	if [ -z "$(HARNESS_KEEP_ENGINE)" ]; then scripts/docker-engine.sh stop; fi; exit $$code

test-unit: setup-test-tools
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup-test-tools
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup-test
	@code=0; $(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS) || code=$$?; \
	if [ -z "$(HARNESS_KEEP_ENGINE)" ]; then $(KUBE_STOP); scripts/docker-engine.sh stop; fi; \
	exit $$code

soak: setup
	@set -e; for s in $$($(BIN)/python -c "from harness.samples import SAMPLES; print(' '.join(sorted({sc for x in SAMPLES.values() if x.variants for sc in x.scenarios})))"); do \
	  for v in leaky fixed; do $(BIN)/harness run $$s --variant $$v -q || true; done; done; \
	$(BIN)/harness run nightly -q || true

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean-reports:
	rm -rf reports/*/
