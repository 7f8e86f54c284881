# The two commands of the README, and a few helpers. Everything installs into ./.venv.
#   make serve   set up and run the bridge on the headless scene (ARGS="--http-port 2017 ...");
#                OHIF for /browse is installed too when npm is available
#   make test    set up (system packages too, as root) and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: serve test lint bench system-packages clean ohif

serve: $(VENV)/.installed
	-scripts/install-ohif.sh
	$(BIN)/slicer-bridge serve $(ARGS)

test: system-packages $(VENV)/.installed-test ohif
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python bench/bus.py $(ARGS)

system-packages:
	scripts/system-packages.sh

# OHIF v3 for /browse, from npm into vendor/ohif (git-ignored); a no-op when already there.
ohif:
	PYTHON=$(PYTHON) scripts/install-ohif.sh

$(VENV)/bin/python:
	scripts/check-python.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
