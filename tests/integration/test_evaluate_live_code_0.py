"""`evaluate --live` scores a class coded 0 (``--labels 0=rest,1=fists,2=feet``, the event names ``bci-stream record``
writes for a numeric marker stream): the replay sends each event's name on a string marker stream, so the service's
follower takes ``"0"`` as any marker, and the service's live score equals the offline rule trial by trial, the 0-coded
rest cues included. A guard (it passed before session 22's fix too): the numeric-0 rule of the marker follower
(``bci_stream.service.markers.zero_is_event``) concerns numeric marker streams only.

Data: S001R10 (21-channel subset, tests/data) from 4.2 s to 32.0 s, its T0/T1/T2 renamed 0/1/2, written as NPZ.
Model: the bundled ``eegmmidb-s001-gru`` (rest / fists / feet). Real in-process service, real LSL on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.common import REPO, SUBSET_S001_21CH, subset_file

pytestmark = [pytest.mark.timeout(180)]

CODES = {"T0": "0", "T1": "1", "T2": "2"}


def test_a_class_coded_0_is_scored_by_evaluate_live_and_the_service(tmp_path: Path) -> None:
    from bci_stream.io import Event, Recording, load_recording, save_npz
    from bci_stream.train.evaluate.live import evaluate_live

    rec = load_recording(subset_file(SUBSET_S001_21CH / "S001R10.edf"))
    a, b = (int(round(s * rec.sfreq)) for s in (4.2, 32.0))
    events = [Event(e.onset - a, e.duration, CODES[e.description]) for e in rec.events if a <= e.onset < b]
    piece = Recording(data=rec.data[:, a:b], sfreq=rec.sfreq, ch_names=rec.ch_names, events=events, source="coded")
    path = save_npz(piece, tmp_path / "S001R10_coded.npz")
    res = evaluate_live("eegmmidb-s001-gru", [path], {"0": "rest", "1": "fists", "2": "feet"},
                        models_dir=REPO / "models", speed=16.0, decision_times=(0.5, 2.0),
                        trial_classes=("rest", "fists", "feet"))
    f = res["files"][0]
    scoring, cmp = f["service"]["scoring"], f["service_vs_offline"]
    n_rest = sum(e.description == "0" for e in events)
    assert n_rest >= 2 and scoring["markers_received"] == scoring["markers_mapped"] == len(events)
    assert scoring["per_class"]["rest"]["trials"] == n_rest and scoring["trials"] == len(events)
    assert cmp["identical"] and res["checks"]["passed"], (cmp, res["checks"])
