"""The README's main job: ``bci-stream demo`` with the bundled model on simulated EEG."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bundled_model_is_valid_and_verifies():
    from bci_stream.inference.registry import ModelRegistry

    entry = ModelRegistry(REPO / "models").get("sim-mi-gru")
    card = entry.card
    assert card.n_chans == 64 and card.sfreq == 160.0 and card.output.kind == "categorical"
    assert card.parity is not None and card.parity.max_abs_diff <= 1e-4 and card.parity.n_samples >= 1000


def test_demo_runs_and_decodes():
    bci_stream = Path(sys.executable).with_name("bci-stream")
    proc = subprocess.run([str(bci_stream), "demo", "--duration", "10", "--port", "0"], capture_output=True,
                          text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"stopped: (\d+) samples in, (\d+) decoded samples out", proc.stdout)
    assert m, proc.stdout
    n_in, n_out = int(m.group(1)), int(m.group(2))
    assert n_out > 0 and n_in == n_out
    assert proc.stdout.count("running") >= 5
