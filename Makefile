# Every target installs what it needs: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test pytest test-lambda-python test-unit future lint format typecheck generate clean

$(STAMP): requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## demo: run the main job on the embedded local stack (moto server + SP-API emulator + worker)
demo: $(STAMP)
	$(BIN)/sp-relay demo

## test: lint, type-check, validate the SAM template and run every test tier
test: $(STAMP) lint typecheck validate-template
	$(BIN)/pytest

## pytest: the test suite alone (any interpreter: make pytest PYTHON=python3.13 VENV=.venv-313)
pytest: $(STAMP)
	$(BIN)/pytest

## test-lambda-python: the suite on template.yaml's Lambda runtime (Python 3.12), in .venv-lambda
test-lambda-python:
	lambda_python="$$($(PYTHON) tools/find_python.py --lambda)" && \
		$(MAKE) --no-print-directory pytest PYTHON="$$lambda_python" VENV=.venv-lambda

test-unit: $(STAMP)
	$(BIN)/pytest -m unit

## future: the demo and every test tier with the calendar moved ahead (FUTURE=+400d; needs Debian's faketime)
FUTURE ?= +400d
future: $(STAMP)
	tools/future_clock/run $(FUTURE) $(BIN)/sp-relay demo
	tools/future_clock/run $(FUTURE) $(BIN)/pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy .

## generate: regenerate domain/spapi/ from the vendored official models
generate: $(STAMP)
	$(BIN)/python tools/generate_models.py
	$(BIN)/ruff format domain/spapi

clean:
	rm -rf $(VENV) .venv-lambda .venv-sam .aws-sam .mypy_cache .ruff_cache .pytest_cache

# SAM CLI targets (own virtualenv): sam-venv, validate-template, sam-build, build-WorkerFunction.
include mk/sam.mk
# Reliability suite and benchmarks: chaos, chaos-ci, bench.
include mk/chaos.mk
