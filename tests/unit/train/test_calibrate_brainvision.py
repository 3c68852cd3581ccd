"""`bci-stream calibrate` on BrainVision recordings as BrainVision Recorder writes them, from the CLI with nothing but
paths and a label map in mne's marker names: Recorder's ``Stimulus`` markers (size 1, ``S  1``: two spaces) are cues
from their onsets, a ``New Segment`` where the recording was paused is a discontinuity (the trial in its settling
is left out, and said), and the model it exports loads in the registry with the header's channel names.

Real EEG: the repository's S001 R05/R06 subset (21 channels, 160 Hz) written as INT_16 BrainVision files (0.1 µV per
bit) by ``tests/support/brainvision.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from support.brainvision import subset_brainvision
from support.marked import FAST_CHANNELS, R05, R06, cues


def test_calibrate_reads_recorder_files_with_mne_marker_names(tmp_path: Path) -> None:
    onsets = [k for k, _ in cues(R06)]
    pause = onsets[5] + 160  # one second after the 6th cue of R06: that trial is left out
    files = [subset_brainvision(tmp_path / "r05", R05), subset_brainvision(tmp_path / "r06", R06, new_segments=[pause])]
    run = CliRunner().invoke(main, ["calibrate", *map(str, files), "--labels", "Stimulus/S  1=fists,Stimulus/S  2=feet",
                                    "--name", "bv", "--out", str(tmp_path / "models"), "--channels",
                                    ",".join(FAST_CHANNELS), "--no-recurrent", "--no-average", "--no-combined",
                                    "--no-progress"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert "note: left out 1 trial(s) of r06.vhdr: 1 overlap New Segment/ + 3.2 s settling" in run.output, run.output
    report = json.loads((tmp_path / "models" / "bv" / "report" / "report.json").read_text(encoding="utf-8"))
    assert sum(report["trials_per_class"].values()) == len(cues(R05)) + len(onsets) - 1
    card = ModelRegistry(tmp_path / "models").get("bv").card
    assert list(card.ch_names) == FAST_CHANNELS and card.sfreq == 160.0
    assert card.training["label_map"] == {"Stimulus/S  1": "fists", "Stimulus/S  2": "feet"}
