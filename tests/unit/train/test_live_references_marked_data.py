"""The epoch references of `evaluate --live --reference-train` on files with a NaN stretch (a GDF's missing samples
read as NaN) and a ``BAD_*`` annotation: they hold the NaN as the service does, leave out the trials overlapping
the stretch plus settling or the mark, say so, and never change the recording the live run scores. A reference
that still fails is an ``error`` entry and a warning note, not a lost live run (audit s19 D2).

Data: real EEG, S001 R05 (reference training) and R06 (test) of ``tests/data/eegmmidb/S001-21ch``, written as FIF
with the marks by ``tests/support/marked.py``; the bundled ``eegmmidb-s001-gru`` card gives channels and classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mne")

from bci_stream.core.registry import read_card  # noqa: E402
from bci_stream.train.classical.bad_spans import settle_s  # noqa: E402
from bci_stream.train.evaluate.baseline import csp_lda, reference  # noqa: E402
from bci_stream.train.evaluate.live_trials import load_streamed  # noqa: E402
from bci_stream.train.evaluate.live import references  # noqa: E402
from support.common import REPO  # noqa: E402
from support.marked import R05, R06, SFREQ, cues, marked_fif  # noqa: E402

CARD = read_card(REPO / "models" / "eegmmidb-s001-gru" / "model.json")  # 21 channels: rest / fists / feet
LABELS = {"T1": "fists", "T2": "feet"}
CLASS_IDS = [list(CARD.output.labels).index(c) for c in ("fists", "feet")]
ALL_ROWS = range(21)


def loaded(path: Path, label_map: dict[str, str] = LABELS) -> dict:
    return load_streamed(path, label_map, CARD, {}, None, "--data")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """R05 with a 0.5-s NaN stretch on every channel 5 s after its 4th cue (between trials: the next cue's trial
    falls in the settling after it), R06 with a BAD_blink inside its 3rd trial's epoch."""
    out = tmp_path_factory.mktemp("refs")
    k = cues(R05)[3][0] / SFREQ
    train = marked_fif(out / "r05_nan_raw.fif", nan=[(ALL_ROWS, k + 5.0, k + 5.5, np.nan)])
    blink = cues(R06)[2][0] / SFREQ + 1.0
    test = marked_fif(out / "r06_blink_raw.fif", src=R06, extra=[(blink, 0.3, "BAD_blink")])
    return train, test


def test_a_nan_stretch_and_a_bad_mark_leave_out_their_trials_and_the_reference_scores(files):
    train_path, test_path = files
    on = [c[0] for c in cues(R05)]
    stop = on[3] + int(5.5 * SFREQ) + int(np.ceil(settle_s(SFREQ) * SFREQ))
    hit = [o for o in on if o <= stop and o + int(2.5 * SFREQ) >= on[3] + int(5.0 * SFREQ)]
    assert hit == [on[4]]  # the fixture's premise: the stretch plus settling reaches the next trial only
    train, test = loaded(train_path), loaded(test_path)
    raw_before, labels_before = train["raw"].copy(), train["labels"].copy()

    res = reference(csp_lda, [train], [test], SFREQ, CLASS_IDS)  # raised "Input X contains NaN" before

    assert res["n_train_trials"] == len(on) - 1
    assert res["overall"]["n_trials"] == len(cues(R06)) - 1
    assert 0.0 <= res["overall"]["accuracy"] <= 1.0 and np.isfinite(res["train_cv_accuracy"])
    assert any(n.startswith("epoch references: r05_nan_raw.fif: 1680 non-finite value(s)") for n in res["notes"])
    assert "epoch references: left out 1 trial(s) of r05_nan_raw.fif: 1 overlap non-finite samples + 3.2 s " \
           "settling (" in " ".join(res["notes"])
    assert "left out 1 trial(s) of r06_blink_raw.fif: 1 overlap BAD_blink (" in " ".join(res["notes"])
    # the recording the live run scores is untouched: its NaN (the service holds them itself) and every trial
    np.testing.assert_array_equal(train["raw"], raw_before)
    np.testing.assert_array_equal(train["labels"], labels_before)


def test_both_references_are_fitted_and_their_notes_said_once(files):
    train, test = (loaded(p) for p in files)
    refs, notes = references([train], [test], SFREQ, CLASS_IDS, (0.5, 2.5))
    assert refs["reference"]["method"] == "CSP+LDA" and refs["reference_ts_lr"]["method"] == "TS+LR"
    assert refs["reference"]["n_train_trials"] == refs["reference_ts_lr"]["n_train_trials"] == len(cues(R05)) - 1
    assert len(notes) == len(set(notes)) == 3 and all(n.startswith("epoch references: ") for n in notes)
    assert references([], [test], SFREQ, CLASS_IDS, (0.5, 2.5)) == ({"reference": None, "reference_ts_lr": None}, [])


def test_a_reference_that_fails_is_an_error_entry_and_a_warning_not_a_lost_run(files):
    """Training trials of one class (the file read with T1 only): both baselines refuse to fit."""
    train, test = loaded(files[0], {"T1": "fists"}), loaded(files[1])
    refs, notes = references([train], [test], SFREQ, CLASS_IDS, (0.5, 2.5))
    for key, method in (("reference", "CSP+LDA"), ("reference_ts_lr", "TS+LR")):
        assert refs[key]["method"] == method
        assert refs[key]["error"].startswith(f"ValueError: {method} needs training trials of at least 2 classes")
        assert f"warning: the {method} epoch reference failed (ValueError: {method} needs training trials" in \
            " ".join(notes)
