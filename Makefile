# Two entry points for a fresh machine (see README):
#   make demo   install into .venv and run the main job on the bundled default model
#   make test   install into .venv (with test extras and the Debian packages tests need), lint, run all tests
# For development: make test-fast (unit tests; no apt, no root) and make lint (ruff + import contracts).
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
MODEL   ?= bbcu_m_x2_small
REF     ?= msrresnet_x2_small
APT_PKGS = $(shell grep -hv '^\#' .ci/apt-packages*.txt 2>/dev/null)

.PHONY: install install-test install-dev apt demo test test-fast lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -e '.[test]'

install-test: install-dev apt

# Debian packages the tests use (cross compilers, qemu-user, OpenSSH); needs root or sudo.
apt:
	@if [ -n "$(APT_PKGS)" ] && ! dpkg -s $(APT_PKGS) >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		{ $$SUDO apt-get update -qq || echo "apt-get update reported errors; trying the install anyway" >&2; } && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PKGS); \
	fi

OUT     := bnn-deploy-out
demo: install
	$(BIN)/bnn-deploy models
	$(BIN)/bnn-deploy inspect $(MODEL)
	$(BIN)/bnn-deploy export $(MODEL) --target arm64 --format lce,tflite-float,tflite-int8,onnx \
		--float-ref $(REF) --input-size 320x180 --out $(OUT)/$(MODEL)
	$(BIN)/bnn-deploy eval $(OUT)/$(MODEL) --out $(OUT)/eval-$(MODEL)
	$(BIN)/bnn-deploy bench $(OUT)/$(MODEL) --device host --threads 1 \
		--json-out $(OUT)/bench-$(MODEL).json --plot $(OUT)/bench-$(MODEL).png
	$(BIN)/bnn-deploy report $(OUT)/$(MODEL) $(OUT)/bench-$(MODEL).json $(OUT)/eval-$(MODEL)/eval.json \
		-o $(OUT)/report-$(MODEL).html

# Style and structure: ruff (lint and format) and the import-linter contracts in pyproject.toml.
lint: install-dev
	$(BIN)/ruff check bnn_deploy tests benchmarks scripts
	$(BIN)/ruff format --check bnn_deploy tests benchmarks scripts
	$(BIN)/lint-imports

test: install-test lint
	$(BIN)/python -m pytest -q tests

# The unit tests: no Debian packages, no root, no emulated board (under 90 s on 2 cores).
test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) bnn-deploy-out *.egg-info .pytest_cache
