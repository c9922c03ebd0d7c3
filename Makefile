# Two commands for a new machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGENETS := $(VENV)/bin/edgenets
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs the suite in two pytest-xdist workers, whole files per worker (module fixtures are built once):
# on 2 cores the serial run used one core on average. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
# The emulated Raspberry Pi OS boards (board/build.py): tests/boards.py finds them here too.
BOARD_DIR ?= .board
export BOARD_DIR

.PHONY: install test test-fast demo clean legacy-venv board board-test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,device,sweep,dev]"
	@touch $@

install: $(STAMP)

# The boards need a Debian/Ubuntu host (apt-get, dpkg-deb); elsewhere their tests skip, saying why. CI builds
# them first (`make board` in .ci/run), so there a board that cannot be built fails the run.
test: $(STAMP)
	@$(MAKE) --no-print-directory board || echo "note: the emulated boards could not be built (see above); their tests will skip"
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

# The main job on a short default (240 s on 2 cores once installed, measured with `time make demo`, 2026-11-30): train the reference
# MobileNet and ShuffleNet, export float32 + int8, bench both, print the float-vs-int8 table and write
# the report. The full-length study: make demo DEMO_EPOCHS=15 DEMO_LIMIT= DEMO_RECIPE=seed
DEMO_MODELS ?= mobilenet shufflenet
DEMO_RECIPE ?= default
DEMO_EPOCHS ?= 3
DEMO_LIMIT ?= 12000
DEMO_OUT ?= runs/demo
DEMO_BENCH_ARGS ?=
DEMO_RUNS := $(addprefix $(DEMO_OUT)/,$(DEMO_MODELS))

demo: $(STAMP)
	$(EDGENETS) data fetch mnist
	@set -e; for m in $(DEMO_MODELS); do \
	  echo "== train $$m ($(DEMO_RECIPE) recipe, $(DEMO_EPOCHS) epochs, $(or $(DEMO_LIMIT),all) training images)"; \
	  $(EDGENETS) train --model $$m --recipe $(DEMO_RECIPE) --epochs $(DEMO_EPOCHS) $(if $(DEMO_LIMIT),--limit $(DEMO_LIMIT)) \
	    --out $(DEMO_OUT) --name $$m --force --quiet; \
	  echo "== export $$m"; \
	  $(EDGENETS) export $(DEMO_OUT)/$$m --int8; \
	done
	@echo "== bench (LiteRT, this CPU)"
	$(EDGENETS) bench $(addsuffix /export/model_float32.tflite,$(DEMO_RUNS)) $(addsuffix /export/model_int8.tflite,$(DEMO_RUNS)) \
	  --profile --output $(DEMO_OUT)/bench-cpu.json $(DEMO_BENCH_ARGS)
	$(EDGENETS) report $(DEMO_RUNS) --bench $(DEMO_OUT)/bench-cpu.json --out $(DEMO_OUT)/report
	@echo "== done: open $(DEMO_OUT)/report/index.html"

clean:
	rm -rf $(VENV) .venv-device .venv-legacy .pytest_cache build *.egg-info
	rm -rf "$(BOARD_DIR)" .board

# Emulated Raspberry Pi OS boards under $(BOARD_DIR): Debian bookworm arm64 (Pi OS 64-bit, Cortex-A76) and
# armhf (32-bit, Cortex-A7) userlands run with qemu-user, each with `pip install "edgenets[device]"` done by
# its own pip. Needs apt-get and dpkg-deb (Debian/Ubuntu host); installs no host package (as root: adds the
# user edgenets-board), never touches binfmt_misc. From scratch 1.5-3 min, then seconds (stamps); a changed
# checkout reinstalls edgenets only.
board: $(STAMP)
	$(PY) board/build.py

# The tests that run inside the boards (pytest marker `board`); `make test` runs them too.
board-test: $(STAMP) board
	$(PY) -m pytest -m board $(PYTEST_ARGS)

# tflite-runtime 2.14 (the last release, still on many Raspberry Pi images) needs numpy<2, so it gets its
# own venv; tests/test_export.py runs exported models in it (edgenets/export/_legacy_check.py).
LEGACY_VENV ?= .venv-legacy
legacy-venv: $(LEGACY_VENV)/.installed

$(LEGACY_VENV)/.installed:
	@test -x $(LEGACY_VENV)/bin/python || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install -q "tflite-runtime==2.14.0" "numpy<2"
	@touch $@
