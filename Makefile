# `make demo` and `make test` each create .venv and install the package on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: demo test install clean bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test,bench,detection]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zoobot-tf demo --out $(DEMO_DIR)

# one pytest worker per core (pytest-xdist); a test file stays on one worker, so its module
# fixtures are built once. `make test PYTEST_ARGS='-m "not slow"'` skips the end-to-end checks.
PYTEST_ARGS ?=
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
