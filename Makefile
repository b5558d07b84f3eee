# balloonfleet: the two set-up commands are `make run` and `make test`;
# each creates the virtual environment first if it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run smoke scenario lint format test test-long fuzz bench validate-setup validate clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

OUT ?= results

SCENARIO := fill anon=400MiB; balloon 1GiB; fill anon=2GiB; punch anon 0.5; compact; thp 1GiB; balloon 0

run: $(STAMP)
	$(BIN)/fleet sweep experiments/balloon-compaction.toml --out $(OUT)/balloon-compaction
	$(BIN)/fleet analyze $(OUT)/balloon-compaction --headline

smoke: $(STAMP)
	$(BIN)/fleet sweep experiments/smoke.toml --out $(OUT)/smoke

scenario: $(STAMP)
	@for bc in off on; do \
	  echo "=== 4GiB guest, balloon compaction $$bc: $(SCENARIO)"; \
	  $(BIN)/fleet inspect --memory 4GiB --seed 1 --balloon-compaction $$bc --each --show buddyinfo --steps "$(SCENARIO)" || exit $$?; \
	done

# Lint, format check and types: what CI runs before the tests.
LINTED := fleet policies tests

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

test: $(STAMP)
	$(BIN)/pytest -m "not slow"

test-long: $(STAMP)
	$(BIN)/pytest -m slow

# Random exploration: the property tests with fresh examples, 20 times as many.
FUZZ_TESTS := tests/test_bad_input.py tests/memory/test_buddy_properties.py tests/memory/test_balloon.py
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz BALLOONFLEET_FUZZ_FACTOR=20 $(BIN)/pytest -m "not slow" $(FUZZ_TESTS)

bench: $(STAMP)
	$(BIN)/fleet bench

# The real-kernel validation harness (README, "Validation"): Debian packages,
# then two Linux 6.1 kernels cached under $$BALLOONFLEET_VALIDATE_DIR or
# ~/.cache/balloonfleet/validate (about 10 min on 2 cores the first time).
VALIDATE_APT := qemu-system-x86 qemu-utils busybox-static cpio e2fsprogs gcc libc6-dev make \
	build-essential bc bison flex libelf-dev libssl-dev xz-utils linux-source-6.1

validate-setup: $(STAMP)
	@if ! dpkg -s $(VALIDATE_APT) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(VALIDATE_APT); \
	fi
	$(BIN)/fleet validate setup

validate: $(STAMP)
	$(BIN)/fleet validate record
	$(BIN)/fleet validate compare

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis build *.egg-info
