# Two commands for a new machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGENETS := $(VENV)/bin/edgenets
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast demo clean legacy-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,device,dev]"
	@touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(EDGENETS) data fetch mnist
	$(EDGENETS) data info mnist

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# tflite-runtime 2.14 (the last release, still on many Raspberry Pi images) needs numpy<2, so it gets its
# own venv; tests/test_export.py runs exported models in it (edgenets/export/_legacy_check.py).
LEGACY_VENV ?= .venv-legacy
legacy-venv: $(LEGACY_VENV)/.installed

$(LEGACY_VENV)/.installed:
	@test -x $(LEGACY_VENV)/bin/python || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install -q "tflite-runtime==2.14.0" "numpy<2"
	@touch $@
