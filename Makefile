# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the demo (simulated EEG -> service -> bundled GRU)
#   make test   set up .venv and run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DURATION ?= 30

.PHONY: demo test venv bundled-model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch==2.13.0 first: it is a local CPU build; an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[train,dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/bci-stream demo --duration $(DURATION)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Re-train the bundled demo model (about a minute) on simulator output.
bundled-model: $(STAMP)
	$(BIN)/python -m bci_stream.train.bundled --out models/sim-mi-gru

clean:
	rm -rf $(VENV) .pytest_cache
