# Every target builds its own .venv, so a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test test-semantic lint bench bench-quick run clean

$(BIN)/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/papers-bot demo

test: $(VENV)/.installed-dev
	$(BIN)/pytest

# The [semantic] extra, into the same .venv. torch goes first, on its own line: a plain install
# would pull several GB of CUDA wheels. Elsewhere, point it at the CPU builds:
#   make test-semantic TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
$(VENV)/.installed-semantic: $(VENV)/.installed-dev
	$(PY) -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e '.[dev,semantic]'
	@touch $@

test-semantic: $(VENV)/.installed-semantic
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m semantic

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check bot adapters tests bench
	$(BIN)/ruff format --check bot adapters tests bench
	$(BIN)/mypy bot adapters

bench: $(VENV)/.installed-dev
	$(PY) -m bench

bench-quick: $(VENV)/.installed-dev
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
