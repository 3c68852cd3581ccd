"""``evaluate --live`` warns, per file and before the replay, when cues come closer than its decision times or the
epoch references' window (before: silent; ``train`` and ``calibrate`` warned of it). Real EEG: 40 s pieces of the
shared data's BCI2000 P300 oddball ``eeg2_1.dat`` (a flash every 1.5 s, ``StimulusType`` 1/0), decoded through the real
service by the bundled eegmmidb-s001-gru (same cap; its classes stand for target/nontarget: the warning is about the
cues)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.common import REPO, SHARED_DATA, require_full_data

pytestmark = [pytest.mark.timeout(180)]

RULE = ("{n} cue(s) of the trial classes; the next event that ends a cue (the next cue, an event the label map leaves "
        "out such as a rest cue, or a discontinuity; median gap 1.50 s) comes at or before the decision time for ")


def _pieces(tmp_path: Path) -> tuple[Path, Path]:
    from bci_stream.io import Recording, load_recording, save_npz

    rec = load_recording(require_full_data(SHARED_DATA / "bci2000" / "eeg2_1.dat"), type_state="StimulusType")
    n = int(40 * rec.sfreq)
    out = []
    for k, name in enumerate(("test", "calibration")):
        a = k * n
        out.append(save_npz(Recording(data=rec.data[:, a:a + n], sfreq=rec.sfreq, ch_names=rec.ch_names,
                                      events=[type(e)(e.onset - a, e.duration, e.description) for e in rec.events
                                              if a <= e.onset < a + n], source=name), tmp_path / f"{name}.npz"))
    return out[0], out[1]


def test_flashes_closer_than_the_decision_time_and_the_reference_epoch_are_warned_of(tmp_path: Path) -> None:
    from bci_stream.train.evaluate.live import evaluate_live

    test, calibration = _pieces(tmp_path)
    said: list[str] = []
    res = evaluate_live("eegmmidb-s001-gru", [test], {"1": "fists", "0": "feet"}, models_dir=REPO / "models",
                        speed=16.0, decision_times=(1.0, 2.0), reference_train=[calibration], echo=said.append)
    assert res["checks"]["passed"], res["checks"]
    spacing = [n for n in res["notes"] if "cue(s) of the trial classes" in n]
    assert len(spacing) == 2, res["notes"]
    # not at 1 s (the next flash is 1.5 s on); at 2 s and before the end of the epoch [0.5, 2.5] s: each cue
    # decided (its epoch inside the 40 s) but the last
    assert spacing[0].startswith(f"warning: test.npz: {RULE.format(n=24)}23 of them at 2 s, 23 before the end of "
                                 "the epoch references' epoch [0.5, 2.5] s after the cue: those trials are decided "
                                 "on what followed them"), spacing[0]
    assert spacing[1].startswith(f"warning: --reference-train file calibration.npz: {RULE.format(n=27)}25 before the "
                                 "end of the epoch references' epoch [0.5, 2.5] s after the cue:"), spacing[1]
    assert said[:2] == spacing  # said before the replay's lines
