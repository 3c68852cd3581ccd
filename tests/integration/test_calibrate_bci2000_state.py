"""``calibrate`` and ``evaluate`` take the BCI2000 reader flags ``replay`` took alone (audit s43, F2): a task that codes
its cues in another state than ``StimulusCode`` (the cursor tasks' ``TargetCode``) could be calibrated only through a
train config. The card keeps the state (``training.reader``), ``evaluate`` reads other files by it, and without the
flag the cues are not found (the files' StimulusCode holds none).

Real data: the repository's S001 R05/R06 subset (160 Hz, fists/feet) written as BCI2000 files with T1/T2 as
TargetCode 1/2 and StimulusCode all 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from support.bci2000 import write_bci2000
from support.common import subset_file
from support.marked import FAST_CHANNELS, R05, R06, SFREQ

pytestmark = [pytest.mark.timeout(300)]


def cursor_task(path: Path, src: Path) -> Path:
    """``src``'s samples as int16 units of 0.1 µV, its T1/T2 spans as TargetCode 1/2, StimulusCode 0 throughout."""
    rec = load_recording(subset_file(src))
    target = np.zeros(rec.n_times, np.uint8)
    for e in rec.events:
        if e.description in ("T1", "T2"):
            target[e.onset:e.onset + e.duration] = int(e.description[1])
    raw = np.clip(np.round(rec.data / 0.1), -32768, 32767)
    return write_bci2000(path, raw, SFREQ, rec.ch_names, {"StimulusCode": np.zeros(rec.n_times), "TargetCode": target})


def test_calibrate_and_evaluate_read_the_cues_of_the_state_given(tmp_path: Path) -> None:
    files = [str(cursor_task(tmp_path / f"{src.stem}.dat", src)) for src in (R05, R06)]
    out = tmp_path / "models"
    common = ["--labels", "1=fists,2=feet", "--name", "cursor", "--out", str(out), "--no-recurrent", "--no-progress",
              "--channels", ",".join(FAST_CHANNELS), "--no-average", "--no-combined"]
    plain = CliRunner().invoke(main, ["calibrate", *files, *common])
    assert plain.exit_code == 2 and "--labels names event(s) ['1', '2'] not in the files" in plain.output, plain.output
    res = CliRunner().invoke(main, ["calibrate", *files, *common, "--state", "TargetCode"])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "cursor" / "model.json").read_text())
    assert card["training"]["reader"] == {"state": "TargetCode"}
    res = CliRunner().invoke(main, ["evaluate", "cursor", "--models-dir", str(out), "--data", files[1],
                                    "--labels", "1=fists,2=feet", "--state", "TargetCode"])
    assert res.exit_code == 0 and "trial accuracy" in res.output, res.output
    # the card's state reads the file without the flag; the flag, given, is the one read (here: no cue there)
    res = CliRunner().invoke(main, ["evaluate", "cursor", "--models-dir", str(out), "--data", files[1],
                                    "--labels", "1=fists,2=feet"])
    assert res.exit_code == 0 and "trial accuracy" in res.output, res.output
    res = CliRunner().invoke(main, ["evaluate", "cursor", "--models-dir", str(out), "--data", files[1],
                                    "--labels", "1=fists,2=feet", "--state", "StimulusCode"])
    assert res.exit_code == 2 and "matches no event of" in res.output and "'0' ×1" in res.output, res.output
