# One entry point for setting up, building, running, testing and linting.
# Everything starts from nothing: a fresh clone needs only python3, cargo and make.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.deps-installed
# Keep in step with pyproject.toml's dependencies and dev extra.
RUNTIME_DEPS := "grpcio>=1.66" "grpcio-status>=1.66" "grpcio-health-checking>=1.66" \
	"grpcio-reflection>=1.66" "protobuf>=5.28" "prometheus-client>=0.20" "redis>=5"
DEV_DEPS := "maturin>=1.7,<2" "pytest>=8" "pytest-asyncio>=0.24" "hypothesis>=6.100" \
	"pytest-benchmark>=4" "ruff>=0.5" "mypy>=1.10" "grpcio-tools>=1.66" \
	"mypy-protobuf>=3.6" "types-protobuf" "hdrhistogram>=0.10" "matplotlib>=3.8" "tqdm>=4.66" \
	"cryptography>=42"
PROTOS := $(shell find proto -name '*.proto')
PROTO_STAMP := python/holdfast/v1/inventory_pb2.py
# The extension is rebuilt whenever a Rust file or a manifest changes.
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml pyproject.toml
EXT_STAMP := $(VENV)/.ext-built

.PHONY: run test test-rust test-python lint fmt bench clean setup build promtool redis

run: build
	$(PY) -m holdfast serve $(ARGS)

test: build test-rust test-python

test-rust:
	cargo test --workspace --exclude holdfast-python --features holdfast-core/check-invariants

test-python: build promtool redis
	$(PY) -m pytest

setup: $(STAMP)

# tests/ops validates the alert rules with promtool, from Debian's prometheus
# package; installed here when missing (needs root, as on CI and dev machines).
promtool:
	@command -v promtool >/dev/null || { \
		echo "installing promtool (Debian package prometheus)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# The Redis backend's tests (tests/redis, tests/contract) start a real
# redis-server, from Debian's redis-server package; installed here when missing.
redis:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (Debian package redis-server)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(RUNTIME_DEPS) $(DEV_DEPS)
	touch $@

build: $(EXT_STAMP) $(PROTO_STAMP)

$(PROTO_STAMP): $(STAMP) $(PROTOS) scripts/gen_protos.py
	$(PY) scripts/gen_protos.py
	touch $@

$(EXT_STAMP): $(STAMP) $(RUST_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	touch $@

bench: build
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group $(BENCH_ARGS)

lint: build
	$(VENV)/bin/ruff check python tests benchmarks scripts
	$(VENV)/bin/ruff format --check python tests benchmarks scripts
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest holdfast._core --allowlist python/holdfast/_core.stubtest-allowlist
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: $(STAMP)
	$(VENV)/bin/ruff format python tests benchmarks scripts
	$(VENV)/bin/ruff check --fix python tests benchmarks scripts
	cargo fmt --all

clean:
	rm -rf $(VENV) target
