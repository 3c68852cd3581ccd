"""`bci-stream train` with ``data.label_window = [start_s, stop_s]`` scores its trials from the cue: "@t" is cue + t
(as the service's live scorer and ``calibrate`` decide), not the label window's start + t (review s20 #3: before,
the report's "@0.5s" of a ``[0.5, 4.0]`` run was cue + 1.0 s, and its mean rule averaged from cue + 0.5 s).

Data: real EEG, S001 R05/R06/R10 of ``tests/data/eegmmidb/S001-21ch`` (EDF, cropped to 40 s), a tiny causal net.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from support.common import subset_file
from support.train_data import S001, tiny_config_text

WINDOW = (0.5, 4.0)


def _cue_accuracy(probs: np.ndarray, cues: list[tuple[int, int]], ids: list[int], n: int, mode: str) -> float:
    """Accuracy of the trials decided at cue + n (instant) or over [cue, cue + n] (mean), written out here."""
    right = []
    for cue, label in cues:
        if cue + n < len(probs):
            p = probs[cue + n, ids] if mode == "instant" else probs[cue:cue + n + 1, ids].mean(0)
            right.append(ids[int(np.argmax(p))] == label)
    return float(np.mean(right))


def test_train_reports_trial_accuracy_from_the_cue_under_a_label_window(tmp_path: Path) -> None:
    from bci_stream.io import load_recording
    from bci_stream.train.checkpoint import load_checkpoint
    from bci_stream.train.config import load_config
    from bci_stream.train.dataset import prepare_dataset
    from bci_stream.train.infer import predict_probs
    from bci_stream.train.run import run_file

    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)  # in the repository's subset (tests/data)
    text = tiny_config_text(tmp_path / "run", bidirectional=False, lookaheads="[]",
                            extra="csp_lda = false\n[evaluation.distillation]\nenabled = false")
    path = tmp_path / "run.toml"
    path.write_text(text.replace("crop_s = [0.0, 40.0]", f"crop_s = [0.0, 40.0]\nlabel_window = {list(WINDOW)}"))
    report = run_file(path, progress=False, log=lambda *a: None)
    ds = prepare_dataset(load_config(path))
    lead = int(round(WINDOW[0] * ds.sfreq))
    assert ds.lead == lead == 80
    (val,) = ds.validation  # the tail of R06 is cut at a cue, so its first trial keeps the cue its times count from
    assert np.flatnonzero(val.labels >= 0)[0] == lead
    net, _ = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    (test,) = ds.test
    probs = predict_probs(net, test.x)
    rec = load_recording(test.source)
    ids = ds.trial_class_ids
    cues = [(e.onset, ds.label_names.index({"T1": "fists", "T2": "feet"}[e.description])) for e in rec.events
            if e.description in ("T1", "T2") and e.onset < test.n_times]
    assert [c for c, _ in cues] == [int(s) - lead for s in np.flatnonzero(np.diff(np.r_[-1, test.labels]))
                                    if test.labels[s] in ids]  # each trial labelled from cue + 0.5 s
    scored = report["models"]["causal"]["test"]
    assert scored["n_trials"] == len(cues)
    shifted = []
    for t in (0.5, 1.0, 2.0, 3.0):
        n = int(round(t * ds.sfreq))
        for mode in ("instant", "mean"):
            assert scored["trial_accuracy"][f"{t:g}s"][mode] == _cue_accuracy(probs, cues, ids, n, mode), (t, mode)
            shifted.append(scored["trial_accuracy"][f"{t:g}s"][mode]
                           != _cue_accuracy(probs, [(c + lead, k) for c, k in cues], ids, n, mode))
    curve = scored["curve"]
    for i, t in enumerate(curve["t_s"]):
        n = int(round(t * ds.sfreq))
        assert curve["instant"][i] == _cue_accuracy(probs, cues, ids, n, "instant"), t
        shifted.append(curve["instant"][i] != _cue_accuracy(probs, [(c + lead, k) for c, k in cues], ids, n, "instant"))
    assert any(shifted)  # the figures differ from those anchored at the label's start (the old reading)
