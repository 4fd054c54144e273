# gradwire developer commands. Everything runs from a project-local virtualenv
# (.venv) that is created on first use, so a fresh clone needs only python3.
#
#   make serve       run the server on 127.0.0.1:$(PORT)      (PORT=50051 HOST=127.0.0.1)
#   make test        fast test suites (what CI runs)
#   make test-slow   the `-m slow` suites: hypothesis sweeps, load, scale-out behind nginx, compose
#   make test-compose docker-compose.yml for real: build, up, load, a replica killed, down
#   make examples    install what the examples need and run them (embedded server)
#   make bench       run bench/*.py (each prints a table)
#   make load        locust, headless and time-bounded, against a server it starts
#   make proto       regenerate the gRPC/protobuf stubs under proto/
#   make api-docs    regenerate docs/api.md from the client's declarations
#   make clean       remove caches and build output (keeps .venv); `make distclean` also .venv

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 50051
PYTEST_ARGS ?=

# Numba's on-disk kernel cache: project-local, so that it is writable and shared
# by the test run, the server subprocesses it starts and the benchmarks.
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

# The API table is generated from client/api_*.py; a test fails when it is stale.
api-docs: $(VENV)/.installed-test
	$(PY) -W ignore -m gradwire.declare > docs/api.md

.PHONY: api-docs help serve test test-slow test-compose examples bench load proto clean distclean nginx docker

help:
	@sed -n '4,13p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	$(PYTHON) -m venv $(VENV)

# One stamp per extra ("server", "test", "bench", "load"). A stamp is newer than
# pyproject.toml once that extra is installed, so re-runs skip pip entirely.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$*]'
	@touch $@

serve: $(VENV)/.installed-server
	$(PY) -m gradwire.service --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

# The scale-out suite needs a real nginx (Debian's nginx-light has the gRPC and
# HTTP/2 modules); install it when missing and we are allowed to.
nginx:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing nginx-light for the scale-out suite"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	else \
	  echo "nginx not found and cannot install it (need root + apt-get); the scale-out suite will be skipped"; \
	fi

# `-m slow` on the command line overrides the `-m 'not slow'` in pyproject's addopts.
test-slow: $(VENV)/.installed-test $(VENV)/.installed-load nginx docker
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# Docker for the compose suite: Debian's docker.io and docker-compose (1.29; `docker compose` v2 is used
# when present), debootstrap for the stand-in base images, and a daemon (vfs storage works everywhere).
docker:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=; for c in docker:docker.io docker-compose:docker-compose debootstrap:debootstrap; do \
	    command -v $${c%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${c%%:*} ] || missing="$$missing $${c#*:}"; done; \
	  if [ -n "$$missing" ]; then echo "installing$$missing for the compose suite"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	  if ! docker info >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1; then \
	    echo "starting dockerd (--storage-driver vfs, log in /var/log/gradwire-dockerd.log)"; \
	    nohup dockerd --storage-driver vfs >/var/log/gradwire-dockerd.log 2>&1 & \
	    for i in $$(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done; fi; \
	else \
	  docker info >/dev/null 2>&1 || echo "no Docker daemon and cannot start one (need root + apt-get); the compose suite will be skipped"; \
	fi

test-compose: $(VENV)/.installed-test $(VENV)/.installed-load docker
	$(PY) -m pytest -m compose -s tests/test_compose.py $(PYTEST_ARGS)

examples: $(VENV)/.installed-examples
	$(PY) examples/seeds_walkthrough.py
	$(PY) examples/sin_cos.py sin_cos.png
	$(PY) examples/cnn_train.py cnn_train.png

bench: $(VENV)/.installed-bench
	@shopt -s nullglob; scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no bench/*.py scripts yet"; exit 0; fi; \
	for s in "$${scripts[@]}"; do echo "== $$s"; $(PY) "$$s"; done

# Bounded: USERS=20 RATE=10 DURATION=30s by default (see loadtest/run.sh).
load: $(VENV)/.installed-load
	PY=$(PY) bash loadtest/run.sh

proto: $(VENV)/.installed-test
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto \
	  --grpc_python_out=proto proto/gradwire/v1/gradwire.proto

clean:
	rm -rf .numba_cache .pytest_cache .hypothesis build dist *.egg-info loadtest/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
