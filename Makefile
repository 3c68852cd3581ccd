# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the demo (simulated EEG -> service -> bundled GRU)
#               port 8000 busy? make demo PORT=9000 (or PORT=0: any free port)
#   make test   set up .venv and run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DURATION ?= 30
# Empty: the API port of BCI_STREAM_PORT, else 8000.
PORT ?=

.PHONY: demo test venv bundled-model clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch==2.13.0 first, from TORCH_INDEX when given (e.g. https://download.pytorch.org/whl/cpu): PyPI's Linux wheel
# is the multi-GB CUDA build; a pip configured with a local CPU wheel (as this project's test machines) needs none.
TORCH_INDEX ?=
# pip byte-compiles what it installs one module at a time (torch's install: 28 s here, 9 s with --no-compile); one
# compileall over the venv does it on both cores at once (torch's 5,446 modules: 2.3 s; make venv from scratch:
# 100 s before, 66 s). Its exit status is not the install's: a few modules of the packages' own test suites are
# Python 3.12 syntax (torch's py312_intrinsics.py), left to compile at import, as pip leaves them.
$(STAMP): pyproject.toml deploy/constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet --no-compile -c deploy/constraints.txt -e ".[train,dev,cluster]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/bci-stream demo --duration $(DURATION) $(if $(PORT),--port $(PORT))

# Six pytest workers, one test file each at a time (--dist loadfile: a file's module fixtures stay in one process;
# a worker's native crash neither hangs the run nor fails a test that passes run again: tests/support/xdist_crash.py);
# most integration tests wait on real-time LSL streams, so six side by side keep two cores busy (the whole suite on
# this 2-core machine: 2,390 tests in 675 s with -n 6 at 32d4cd8; 2,324 in 801 s with -n 4 at d478e8b, 919 s with
# the set-up, over the 15 minutes make test must stay under); pytest-xdist hands out the files with most tests first.
# One BLAS/OpenMP thread per process: the workers (and the commands they start) already keep both cores busy, and a
# second thread each only spins against them (tests/unit/train: 630 s of CPU with the default threads, 584 s with
# one).
# The checkout's own modules are byte-compiled first, as pip compiles what it installs: the suite starts hundreds of
# Python processes (workers, commands), and where PYTHONDONTWRITEBYTECODE is set (as on this project's test
# machines) each of them would compile every module it imports again (~0.1 s of CPU each).
# The 25 slowest tests are listed at the end: the suite must stay within make test's 15 minutes.
TEST_WORKERS ?= 6
TEST_THREADS := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# The venv and the Debian packages are set up side by side (on a fresh machine apt's download and unpacking overlap
# pip's installs, which keep a core busy).
test:
	@$(MAKE) --no-print-directory -j 2 venv browser
	$(BIN)/python -m compileall -q -j 0 bci_stream latency_bench tests >/dev/null
	$(TEST_THREADS) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

# Debian packages two tests use, each failing (and saying why) without its own: chromium for the dashboard's browser
# test (tests/integration/test_dashboard.py), faketime for LSL senders on clocks of their own
# (tests/integration/test_reconnect_clock.py).
FAKETIME_LIB := /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
browser:
	@missing="$$(command -v chromium >/dev/null || echo chromium) $$([ -f $(FAKETIME_LIB) ] || echo faketime)"; \
	  [ -z "$$(echo $$missing)" ] || { S=$$([ "$$(id -u)" = 0 ] || command -v sudo); \
	  $$S apt-get update -q && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; } \
	  || echo "warning: could not install $$missing; the tests that need it will fail" >&2

# Re-train the bundled demo model (2.5 to 5 minutes) on simulator output.
bundled-model: $(STAMP)
	$(BIN)/python -m bci_stream.train.bundled --out models/sim-mi-gru

clean:
	rm -rf $(VENV) .pytest_cache
