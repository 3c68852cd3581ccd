"""`calibrate` end to end on real files with bad marks (the function, and the CLI once): the left-out trials are
neither fitted nor scored (CV counts the rest), the report says them per file, reason and class, the exported model
loads, and on a file with NaN samples it gives what the service's pipeline (the registry entry run by
``decode_offline``, nan_policy hold) gives at every cue's decision samples. Real EEG: the repository's EDF
subset (S001 R05/R06, 21 channels) rewritten by mne as FIF with the marks added."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from bci_stream.dsp.preprocess import NonFiniteGuard
from bci_stream.engine.offline import decode_offline
from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import settle_s
from bci_stream.train.classical.calibration import calibrate
from bci_stream.train.classical.configs import EVAL_TIMES
from bci_stream.train.classical.features import outputs_at
from support.common import subset_file
from support.marked import FAST_CHANNELS, LABELS, R05, R06, SFREQ, cues, marked_fif

mne = pytest.importorskip("mne")

CHANNELS = FAST_CHANNELS


def _marked(out: Path, extra: list[tuple[float, float, str]], nan_at: float | None = None) -> Path:
    """R05 as FIF with ``extra`` annotations (onset s, duration s, description) and, at ``nan_at`` s, 1 s of NaN on
    channel C3 and Cz."""
    names = load_recording(subset_file(R05)).ch_names
    rows = [names.index("C3.."), names.index("Cz..")]
    return marked_fif(out, extra=extra, nan=[] if nan_at is None else [(rows, nan_at, nan_at + 1.0, np.nan)])


def _cue_times(src: Path = R05) -> list[tuple[float, str]]:
    return [(onset / SFREQ, name) for onset, name in cues(src)]


def test_calibrate_fits_and_scores_only_the_clean_trials_and_matches_the_service_on_nan(tmp_path: Path) -> None:
    cues = _cue_times()
    a = _marked(tmp_path / "a_raw.fif", [(cues[1][0] + 0.5, 0.3, "BAD_blink"), (cues[4][0] + 2.0, 0.3, "BAD_blink")],
                nan_at=cues[8][0] + 1.0)
    lines: list[str] = []
    res = calibrate([a, subset_file(R06)], LABELS, "marked", tmp_path / "models", channels=CHANNELS, progress=False,
                    echo=lines.append, recurrent=False, average=False, combined=False)
    n_all = len(cues) + len(_cue_times(R06))
    for cv in res.cv.values():
        assert cv.n_trials == n_all - 3  # leave-one-run-out scores only the clean trials
    rep = res.report
    c1, c4, c8 = cues[1][1], cues[4][1], cues[8][1]
    blink = {c1: 1} if c1 != c4 else {c1: 2}
    if c1 != c4:
        blink[c4] = 1
    assert rep["trials_left_out"] == [{"file": "a_raw.fif", "n": 3, "by_reason": {
        "BAD_blink": blink, f"non-finite samples + {settle_s(SFREQ):.1f} s settling": {c8: 1}}}]
    assert sum(rep["trials_per_class"].values()) == n_all - 3
    said = [line for line in lines if line.startswith("note: left out 3 trial(s) of a_raw.fif: 2 overlap BAD_blink")]
    assert said, lines
    assert any("non-finite value(s) (NaN/inf) on 2 channel(s)" in line for line in lines), lines
    md = (tmp_path / "models" / "marked" / "report" / "report.md").read_text(encoding="utf-8")
    assert "(left out as bad, neither fitted nor scored: a_raw.fif 3: BAD_blink 2, non-finite samples" in md
    assert json.loads((tmp_path / "models" / "marked" / "report" / "report.json").read_text())["trials_left_out"]
    # the exported model loads and, on the file with NaNs, gives what the service's pipeline gives
    entry = ModelRegistry(tmp_path / "models").get("marked")
    rec = load_recording(a)
    idx = [rec.ch_names.index(n) for n in entry.card.ch_names]
    x = np.ascontiguousarray(rec.data[idx].T)
    assert np.isnan(x).any()
    y = decode_offline(entry, x)  # the service's guard (nan_policy hold) and step graph
    at = np.array([int(round(t * SFREQ)) + int(round(s * SFREQ)) for t, _ in cues for s in EVAL_TIMES])
    held = NonFiniteGuard(len(idx), "hold").apply(x.copy())  # what calibrate fitted and scored on
    np.testing.assert_allclose(y[at], outputs_at(res.params, held, at), atol=1e-4)


def test_the_cli_takes_bad_events_and_says_what_it_left_out(tmp_path: Path) -> None:
    cues = _cue_times()
    a = _marked(tmp_path / "rej_raw.fif", [(cues[2][0] - 2.0, 7.5, "1023"), (cues[6][0] + 1.0, 0.0, "1023")])
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", str(a), str(subset_file(R06)), "--labels",
                                    "T1=fists,T2=feet", "--bad-events", "1023", "--name", "rej", "--out",
                                    str(tmp_path / "models"), "--channels", ",".join(CHANNELS), "--no-recurrent",
                                    "--no-average", "--no-combined"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "note: left out 2 trial(s) of rej_raw.fif: 2 overlap 1023 (" in res.output, res.output
    entry = ModelRegistry(tmp_path / "models").get("rej")
    assert entry.card.ch_names and len(entry.card.ch_names) == len(CHANNELS)
    report = json.loads((tmp_path / "models" / "rej" / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["bad_events"] == ["1023"] and report["trials_left_out"][0]["n"] == 2
