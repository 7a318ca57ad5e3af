# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all test-pythons lint typecheck docs bench clean install system-deps
# Debian packages the tests and benchmarks drive as real clients (TLS certificates and clients, load).
SYSTEM_TOOLS := openssl curl wrk nginx

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# (setup.py and the C source too: a changed native module is rebuilt by the same editable install)
$(STAMP): $(BIN)/python pyproject.toml setup.py src/monoceros/http/_speedups.c
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
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/ruff format --check src tests bench examples tools

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs under coverage ([tool.coverage] in pyproject.toml): the pytest process, the servers
# it starts and their workers each write a data file next to this Makefile (COVERAGE_FILE: the
# servers run in temporary directories); they are combined at the end and the figures per package
# printed, also when a test failed. `$(BIN)/coverage report -m` then gives them per file.
COVERAGE := COVERAGE_FILE=$(CURDIR)/.coverage $(BIN)/coverage
define covered_pytest
	@$(COVERAGE) erase
	@status=0; $(COVERAGE) run -m pytest $(1) || status=$$?; \
	$(COVERAGE) combine -q && COVERAGE_FILE=$(CURDIR)/.coverage $(BIN)/python tools/coverage_report.py; \
	exit $$status
endef

test: system-deps lint typecheck
	$(call covered_pytest,-q -m "not slow" -p no:cacheprovider)

test-all: system-deps lint typecheck
	$(call covered_pytest,-q -p no:cacheprovider)

# The suite on every supported interpreter that is installed (python3.X on the PATH, else pyenv's or uv's
# copy of it), each in a venv of its own; lint and types are checked once, by `make test`.
VERSIONS ?= 3.10 3.11 3.12 3.13
test-pythons: system-deps
	@passed=""; for v in $(VERSIONS); do \
		py=""; \
		if python$$v -c 'import sys' >/dev/null 2>&1; then py=python$$v; fi; \
		if [ -z "$$py" ]; then py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v $$HOME/.local/share/uv/python/cpython-$$v.*/bin/python$$v 2>/dev/null | tail -n 1); fi; \
		if [ -z "$$py" ]; then echo "== Python $$v: not installed, skipped"; continue; fi; \
		venv=.venv-$$v; \
		[ -x $$venv/bin/python ] || $$py -m venv $$venv || exit 1; \
		$$venv/bin/python -m pip install -q --upgrade pip && $$venv/bin/python -m pip install -q -e '.[test]' || exit 1; \
		echo "== Python $$v ($$py)"; \
		$$venv/bin/python -m pytest -q -m "not slow" -p no:cacheprovider || exit 1; \
		passed="$$passed $$v"; \
	done; echo "passed on Python:$$passed"

docs: $(STAMP)
	$(BIN)/python -m monoceros.config.docgen > docs/settings.md

bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-3.* build src/*.egg-info .coverage .coverage.* htmlcov
