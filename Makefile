# balloonfleet: the two set-up commands are `make run` and `make test`;
# each creates the virtual environment first if it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: setup run test test-long bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fleet inspect --memory 4GiB --seconds 60 --seed 1

test: $(STAMP)
	$(BIN)/pytest -m "not slow"

test-long: $(STAMP)
	$(BIN)/pytest -m slow

bench: $(STAMP)
	$(BIN)/fleet bench memory

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis build *.egg-info
