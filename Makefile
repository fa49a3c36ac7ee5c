# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test unit codegen codegen-check lint types api-check test-all test-live demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Everything CI checks: unit tests with coverage of the hand-written runtime (the gate is fail_under in
# pyproject.toml), the generated code is up to date, lint, types, the public API against the last release.
test: install
	$(BIN)/python -m pytest --cov
	$(MAKE) --no-print-directory codegen-check lint types api-check

unit: install
	$(BIN)/python -m pytest

codegen: install
	$(BIN)/python -m codegen

codegen-check: install
	$(BIN)/python -m codegen --check

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The package, and what reads it: the tests, the generator, the examples (pyproject.toml leaves out the typing
# programs that must fail). The README's and docs' python blocks are checked by tests/test_doc_programs.py.
types: install
	$(BIN)/mypy --strict apertis tests codegen examples
	$(BIN)/mypy --strict tests/live/*.py

# The public API against the latest release tag (v*): griffe lists what was removed or changed incompatibly
# (CONTRIBUTING.md says what a release may break). Before the first tag there is nothing to compare against.
api-check: install
	@tag=$$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null); \
	if [ -z "$$tag" ]; then echo "api-check: no release tag (v*) yet: nothing to compare against"; \
	else echo "api-check: against $$tag"; $(BIN)/griffe check apertis --search . --against "$$tag"; fi

# The live contract suite (tests/live): every operation, sync and async, streamed and not, against the API named by
# APERTIS_BASE_URL and APERTIS_API_KEY; skipped without a key. Against a non-loopback URL it skips the operations
# that cost real money and writes sanitised transcripts; its report of unknown fields goes to tests/live/out/.
test-live: install
	$(BIN)/python -m pytest tests/live -p no:cacheprovider

# The tests on every Python from 3.9 to 3.13 that this machine has.
# pyenv's shims run only the active versions: make every installed 3.9-3.13 active for nox.
PYENV_ALL := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep -E '^3\.(9|1[0-3])\.' | sort -t. -k2,2n | tr '\n' ':')
test-all: install
	PYENV_VERSION="$(PYENV_ALL)$$PYENV_VERSION" $(BIN)/nox --session tests

# The demo needs only the package (httpx, attrs) and its pydantic extra (the structured-outputs and tools
# examples): its own small environment, ready in seconds, not the dev tools.
# The venv gets no pip of its own (installing pip into it is most of a venv's set-up time): the creating
# interpreter's pip installs into it (pip >= 22.3), or, where that pip is older, the venv's own after all.
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
DEMO_PIP_OPTIONS := install --quiet --disable-pip-version-check -e '.[pydantic]'

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv --without-pip $(DEMO_VENV)
	$(PYTHON) -m pip --python $(DEMO_VENV)/bin/python $(DEMO_PIP_OPTIONS) 2>/dev/null \
	  || { $(DEMO_VENV)/bin/python -m ensurepip --default-pip >/dev/null && \
	       $(DEMO_VENV)/bin/python -m pip $(DEMO_PIP_OPTIONS); }
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/python -m apertis.testing.demo

BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[aiohttp]' -r bench/requirements.txt
	touch $(BENCH_STAMP)

# The side-by-side benchmark (docs/benchmarks.md): its own environment, never part of `make test`.
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DEMO_VENV) .nox .pytest_cache .mypy_cache .ruff_cache build dist
