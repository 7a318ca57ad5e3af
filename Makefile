# Two commands matter: `make run` and `make test`. Both set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all test-pythons lint typecheck docs bench clean install system-deps fuzz fuzz-native \
	test-asan
# Debian packages the tests and benchmarks drive as real clients (TLS certificates and clients, load).
SYSTEM_TOOLS := openssl curl wrk nginx

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# (setup.py and the C source too: a changed native module is rebuilt by the same editable install)
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard src/monoceros/http/_speedups*)
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

# The servers of the functional tests take the native parser where it was built (http_parser = auto), and
# tests/http runs each parser test on both paths; the suites about the wire run once more on the Python path.
WIRE_SUITES := $(addprefix tests/functional/,test_smuggling.py test_slow_clients.py test_body_limits.py)
define python_path_pytest
	MONOCEROS_TEST_HTTP_PARSER=python $(BIN)/python -m pytest $(1) $(WIRE_SUITES)
endef

test: system-deps lint typecheck
	$(call covered_pytest,-q -m "not slow" -p no:cacheprovider)
	$(call python_path_pytest,-q -m "not slow" -p no:cacheprovider)

test-all: system-deps lint typecheck
	$(call covered_pytest,-q -p no:cacheprovider)
	$(call python_path_pytest,-q -p no:cacheprovider)

# The two paths compared on 10^6 generated heads, chunked bodies and responses each (parser and writer; a
# bounded number of each runs in `make test`).
FUZZ_EXAMPLES ?= 1000000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider --timeout 0 \
		tests/http/test_native.py tests/http/test_writer_paths.py -k generated

# The native scanner and the native writer under libFuzzer with AddressSanitizer and UBSan (clang from
# Debian's packages), side by side for FUZZ_SECONDS each, seeded with the heads of the request corpus and a
# few responses; the corpora they grow are kept in build/.
FUZZ_SECONDS ?= 600
FUZZ_CC = clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 \
	-I$$($(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
FUZZ_LD = $$($(BIN)/python -c "import sysconfig as s; v=s.get_config_var; print(f\"-L{v('LIBDIR')} -Wl,-rpath,{v('LIBDIR')} -lpython{v('LDVERSION')}\")")
FUZZ_RUN = PYTHONPATH=src PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
fuzz-native: $(STAMP)
	@command -v clang >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
	mkdir -p build/fuzz/corpus build/fuzz/seeds build/fuzz/writer-corpus build/fuzz/writer-seeds
	$(BIN)/python tools/fuzz/seeds.py build/fuzz/seeds build/fuzz/writer-seeds
	$(FUZZ_CC) tools/fuzz/fuzz_head.c $(FUZZ_LD) -o build/fuzz/fuzz_head
	$(FUZZ_CC) tools/fuzz/fuzz_writer.c $(FUZZ_LD) -o build/fuzz/fuzz_writer
	$(FUZZ_RUN) build/fuzz/fuzz_head -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -print_final_stats=1 \
		build/fuzz/corpus build/fuzz/seeds > build/fuzz/head.log 2>&1 & head=$$!; \
	$(FUZZ_RUN) build/fuzz/fuzz_writer -max_total_time=$(FUZZ_SECONDS) -max_len=512 -print_final_stats=1 \
		build/fuzz/writer-corpus build/fuzz/writer-seeds > build/fuzz/writer.log 2>&1; writer=$$?; \
	wait $$head; scanner=$$?; tail -n 12 build/fuzz/head.log build/fuzz/writer.log; \
	[ $$scanner = 0 ] && [ $$writer = 0 ]

# The native module rebuilt with AddressSanitizer and UBSan (gcc's runtimes preloaded into the Python that
# loads it), then tests/http (both paths, the differential tests included), the wire suites and the serving
# and ASGI suites, whose servers inherit the build (both workers take the native writer); the normal build is
# put back after, also when a test failed. The memory-flatness test is left out: ASan's quarantine grows the
# resident size by design.
ASAN_SUITES := tests/http $(WIRE_SUITES) tests/functional/test_serving.py tests/functional/test_asgi.py
ASAN_BUILD = CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g" \
	LDFLAGS="-fsanitize=address,undefined" $(BIN)/python -m pip install -q --no-deps -e .
test-asan: $(STAMP)
	$(ASAN_BUILD)
	@status=0; LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(BIN)/python -m pytest -q -p no:cacheprovider $(ASAN_SUITES) -k "not keep_memory_flat" || status=$$?; \
	$(BIN)/python -m pip install -q --no-deps -e .; exit $$status

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
	rm -rf $(VENV) .venv-3.* build src/*.egg-info .coverage .coverage.* htmlcov src/monoceros/http/*.so
