"""A training run stopped by SIGTERM or Ctrl-C says so: in its run folder (``interrupted.json``, the files it left)
and on its output; a second run there is told the folder holds an interrupted run, and ``--overwrite`` clears it.
Before (audit s68train F3): Ctrl-C printed "Aborted!" only, SIGTERM ended it with exit 143 and no word, and the folder
held a config and checkpoints with nothing saying the run never ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("mne")

from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402


def _config(root: Path) -> Path:
    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    text = tiny_config_text(root / "run", bidirectional=False, lookaheads="[0]",
                            extra="[evaluation.distillation]\nenabled = false")
    text = text.replace("epochs = 2", "epochs = 100000").replace("patience = 1", "patience = 100000")
    cfg = root / "run.toml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stopped_run_says_so_in_its_folder_and_its_output(tmp_path, sig):
    cfg = _config(tmp_path)
    cmd = [sys.executable, "-m", "bci_stream", "train", str(cfg), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # a process of its own with SIGINT handled (a shell's background job, or an inherited ignore, would not take it)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    out = []
    try:
        for line in proc.stdout:  # "data: ..." once the run folder holds the run's config, before the training
            out.append(line)
            if line.startswith("data:"):
                break
        else:
            pytest.fail(f"no 'data:' line: {''.join(out)} {proc.wait(60)} {err}")
        proc.send_signal(sig)
        out.append(proc.stdout.read())
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    said = "".join(out)
    run = tmp_path / "run"
    assert code == 1 and "Aborted!" in err[0] and "Traceback" not in err[0], (code, err)
    assert f"interrupted: run folder {run} holds an unfinished run (interrupted.json; " in said, said
    assert "no report, no export): `bci-stream evaluate` scores a stage's checkpoint; to train again there, pass " \
           "--overwrite" in said
    note = json.loads((run / "interrupted.json").read_text())
    assert {"config.json", "config.toml", "training_files.json"} <= set(note["files"]) and note["interrupted_at"]
    assert not (run / "report.json").exists()
    if sig == signal.SIGINT:  # the folder, then, refused and cleared as any other run's
        from bci_stream.train.config import ConfigError, load_config
        from bci_stream.train.run_outputs import check_outputs, clear_previous_run

        with pytest.raises(ConfigError, match=r"already holds files \(.*interrupted\.json.*\): an interrupted run's "
                                              r"files would mix with this one's; give another folder with --out, or "
                                              r"pass --overwrite"):
            check_outputs(load_config(cfg), False, False)
        assert "interrupted.json" in clear_previous_run(run)
        assert not any(run.iterdir())
