# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all test-pythons lint typecheck docs bench clean install system-deps
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

# The suite on every supported interpreter that is installed (python3.10 ... python3.13 on the PATH, as pyenv
# or uv provide them), each in a venv of its own; lint and types are checked once, by `make test`.
PYTHONS ?= python3.10 python3.11 python3.12 python3.13
test-pythons: system-deps
	@passed=""; for py in $(PYTHONS); do \
		if ! $$py -c 'import sys' >/dev/null 2>&1; then echo "== $$py: not installed, skipped"; continue; fi; \
		venv=.venv-$${py#python}; \
		[ -x $$venv/bin/python ] || $$py -m venv $$venv || exit 1; \
		$$venv/bin/python -m pip install -q --upgrade pip && $$venv/bin/python -m pip install -q -e '.[test]' || exit 1; \
		echo "== $$py"; \
		$$venv/bin/python -m pytest -q -m "not slow" -p no:cacheprovider || exit 1; \
		passed="$$passed $$py"; \
	done; echo "passed on:$$passed"

docs: $(STAMP)
	$(BIN)/python -m monoceros.config.docgen > docs/settings.md

bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-3.* build src/*.egg-info
