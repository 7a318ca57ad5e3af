# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint typecheck docs bench clean install system-deps
# Debian packages the tests and benchmarks drive as real clients (TLS certificates and clients, load).
SYSTEM_TOOLS := openssl curl wrk

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Installs the missing tools when apt-get is there and we may use it; the tests that need one skip
# (and say so) where it cannot be had.
system-deps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "warning: missing$$missing (tests that need them will be skipped)"; \
		fi; \
	fi

run: $(STAMP)
	cd examples && ../$(BIN)/monoceros -c monoceros.conf.py hello:application

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: system-deps lint typecheck
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

test-all: system-deps lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

docs: $(STAMP)
	$(BIN)/python -m monoceros.config.docgen > docs/settings.md

bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
