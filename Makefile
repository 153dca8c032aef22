VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[test,bench,dev]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(VENV)/bin/cenas search
	$(VENV)/bin/cenas search --live --workers 2 --hours 8 --step-minutes 0.25 --policy static \
		--train-epochs 2 --channels 4 --cells 1 --estimator zero-cost:synflow

test: $(TEST_STAMP)
	$(PY) -m pytest -q -n 2 --timeout 900

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy

bench: $(TEST_STAMP)
	$(PY) benchmarks/optimizers.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache
