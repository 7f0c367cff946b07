# `make demo` and `make test` each create .venv and install the package on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: demo test test-slow test-all install clean bench backend-envs

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

# JAX and PyTorch each in a venv of its own, without TensorFlow (as on a GPU machine that has no
# TensorFlow): tests/test_backends.py runs the models and the loss there, and skips without them.
# Not in .venv: only a venv without TensorFlow shows that nothing imports it, and jax (~620 MB) and
# torch (~1.2 GB) would more than double the test environment. torch==2.13.0: the CPU build.
BACKEND_KERAS := 'keras>=3.15,<4'
backend-envs: .venv-jax/.installed .venv-torch/.installed

.venv-%/.installed: setup.cfg
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q $(BACKEND_KERAS) $(if $(filter torch,$*),torch==2.13.0,$*)
	touch $@

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) .venv-jax .venv-torch $(DEMO_DIR)
