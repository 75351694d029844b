# Two commands for a fresh machine: `make run` (the service on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit openapi clean fuzz fuzz-smoke

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## Run the verifier on http://127.0.0.1:8080 (development keys are generated into var/ when absent).
run: $(STAMP)
	$(PY) -m service

## Everything CI checks: lint, format, types, Containerfile lint, OpenAPI drift, and the whole test suite.
test: $(STAMP) lint typecheck
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Containerfile

typecheck: $(STAMP)
	$(VENV)/bin/mypy

## Regenerate openapi/openapi.json from the app (a test fails when it drifts).
openapi: $(STAMP)
	$(PY) -m service openapi > openapi/openapi.json

## Property fuzzing of every parser + schemathesis against the running API: smoke (CI) and a long campaign.
fuzz-smoke: $(STAMP)
	HYPOTHESIS_PROFILE=smoke $(VENV)/bin/pytest fuzz -p no:cacheprovider -q

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=campaign $(VENV)/bin/pytest fuzz -p no:cacheprovider -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
bench bench-smoke:: ; @$(MAKE) -s $(STAMP) && $(PY) -m bench $(if $(filter bench-smoke,$@),--smoke) $(BENCH_ARGS)
