# `make demo` and `make test` each create .venv and install the package on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: demo test test-slow test-all install clean bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test,bench,detection]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zoobot-tf demo --out $(DEMO_DIR)

# One pytest worker per core (pytest-xdist); a test file stays on one worker, so its module
# fixtures are built once. `make test` is the quick tier (every test not marked slow: a few
# minutes on 2 cores); `make test-slow` runs the end-to-end checks marked slow (the README's
# examples, multi-process training, models trained to a figure); CI (.ci/run) runs both, and
# `make test-all` runs everything in one session.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadfile
PYTEST_ARGS ?=
test: $(STAMP)
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PYTEST) -m slow $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PYTEST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
