"""Data-parallel training: 2 CPU processes under torchrun (gloo) end with identical parameters."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402


def test_two_processes_under_torchrun_end_with_identical_parameters(tmp_path):
    subset_file(S001 / "S001R06.edf")  # the repository's subset (tests/data): always there
    cfg = tmp_path / "ddp.toml"
    cfg.write_text(tiny_config_text(tmp_path / "run", bidirectional=False, lookaheads="[4]",
                                    extra="csp_lda = false\n[evaluation.distillation]\nenabled = false"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bci_stream.cli", "train", str(cfg), "--nproc-per-node", "2", "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["world_size"] == 2
    assert set(report["models"]) == {"causal", "lookahead_4"}
    for name, m in report["models"].items():
        digests = m["fit"]["param_digests"]
        assert len(digests) == 2 and digests[0] == digests[1], name
        assert m["fit"]["epochs_run"] >= 1
    # Only rank 0 writes: one report, one set of checkpoints.
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["causal.pt", "lookahead_4.pt"]
    assert proc.stdout.count("data: ") == 1


def test_the_digest_tells_different_parameters_apart():
    import torch

    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.train.distributed import param_digest

    torch.manual_seed(0)
    a = CausalRNN(3, 2, hidden_size=4)
    b = CausalRNN(3, 2, hidden_size=4)
    b.load_state_dict(a.state_dict())
    assert param_digest(a) == param_digest(b)
    with torch.no_grad():
        b.readout.bias[0] += 1e-7
    assert param_digest(a) != param_digest(b)


def _nyquist_config(tmp_path: Path) -> Path:
    """A config refused once the data is read: a band-pass above the recordings' Nyquist (80 Hz at 160 Hz)."""
    subset_file(S001 / "S001R06.edf")
    cfg = tmp_path / "nyq.toml"
    cfg.write_text(tiny_config_text(tmp_path / "run", bidirectional=False, lookaheads="[]").replace(
        "[model]", "[preprocessing]\nbandpass = [8.0, 90.0]\n\n[model]"))
    return cfg


NYQUIST = "error: preprocessing.bandpass must lie below Nyquist (80 Hz for the data's 160 Hz), got [8.0, 90.0]\n"


def test_a_data_refusal_under_nproc_per_node_is_one_line_and_exit_2(tmp_path):
    from bci_stream.train.run import preflight

    cfg = _nyquist_config(tmp_path)
    with pytest.raises(Exception, match="preprocessing.bandpass must lie below Nyquist"):
        preflight(cfg, None, None, False)  # refused by the launcher, before torchrun starts any process
    cmd = [sys.executable, "-m", "bci_stream.cli", "train", str(cfg), "--nproc-per-node", "2", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, NYQUIST, "")
    assert not (tmp_path / "run").exists()


def test_a_refusal_found_in_the_processes_is_reported_once_with_exit_2(tmp_path):
    # The launcher alone (no preflight): each process refuses; one line, exit 2, no torchrun failure report.
    cfg = _nyquist_config(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "bci_stream.train.launch", "2", str(cfg), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, NYQUIST, "")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_stopping_train_stops_its_launcher_and_processes(tmp_path, sig):
    """``kill PID`` of ``bci-stream train --nproc-per-node 2`` (a scheduler, systemd) ended that process alone: the
    launcher and both training processes trained on, orphaned (found by an exploratory run). Now the signal is passed
    on: every process of the run ends, and no run folder is finished."""
    import signal
    import time

    import psutil

    subset_file(S001 / "S001R06.edf")
    cfg = tmp_path / "long.toml"
    cfg.write_text(tiny_config_text(tmp_path / "run", bidirectional=False, lookaheads="[4]",
                                    extra="csp_lda = false\n[evaluation.distillation]\nenabled = false")
                   .replace("epochs = 2", "epochs = 500").replace("patience = 1", "patience = 500"))
    cmd = [sys.executable, "-m", "bci_stream.cli", "train", str(cfg), "--nproc-per-node", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    family: list = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # the launcher, torchrun's agent and the two training processes
            family = parent.children(recursive=True)
            if sum("bci_stream.train" in " ".join(p.cmdline()) and "launch" not in " ".join(p.cmdline())
                   for p in family if p.is_running()) >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the training processes did not start")
        time.sleep(2.0)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=60)
        gone, alive = psutil.wait_procs(family, timeout=60)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
        assert not (tmp_path / "run" / "report.json").exists()
    finally:  # whatever still runs of it (a failure above)
        for p in family:
            with contextlib.suppress(psutil.Error):
                p.kill()
        proc.kill()
