"""A damaged ``.npz`` recording is refused with one line naming the file and what is wrong with it (audit s43, D1):
before, a file cut short gave ``calibrate``, ``evaluate`` and ``replay`` a traceback (``zipfile.BadZipFile``), an empty
one only click's ``Aborted!`` (an ``EOFError``), and a file of text numpy's advice to load it unsafely as a pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io.errors import DataError
from bci_stream.io.load import load_recording


def whole(path: Path, compressed: bool) -> bytes:
    save = np.savez_compressed if compressed else np.savez
    save(path, data=np.random.default_rng(0).standard_normal((4, 2000)), sfreq=np.float64(100.0),
         ch_names=np.array(["C3", "Cz", "C4", "Pz"]))
    return path.read_bytes()


@pytest.mark.parametrize(("damage", "said"), [
    ("empty", "the file is empty"),
    ("half", "it is not a whole, sound zip archive"),
    ("flipped", "it is not a whole, sound zip archive"),
    ("flipped-compressed", "it is not a whole, sound zip archive"),
    ("text", "it is neither a zip archive of arrays nor a NumPy array file"),
    ("npy", "it is a single NumPy array (.npy), not an archive of the arrays data, sfreq, ch_names"),
])
def test_a_damaged_npz_is_refused_with_the_file_and_why(tmp_path, damage, said):
    good = whole(tmp_path / "good.npz", compressed=damage.endswith("compressed"))
    path = tmp_path / "rec.npz"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "half":
        path.write_bytes(good[:len(good) // 2])
    elif damage.startswith("flipped"):
        flipped = bytearray(good)
        flipped[1000:1100] = bytes(b ^ 0xFF for b in flipped[1000:1100])
        path.write_bytes(bytes(flipped))
    elif damage == "text":
        path.write_text("garbage\n")
    else:
        with path.open("wb") as f:
            np.save(f, np.zeros(3))
    with pytest.raises(DataError) as info:
        load_recording(path)
    msg = str(info.value)
    assert f"cannot read {path} as an NPZ recording: {said}" in msg, msg
    assert "allow_pickle" not in msg, msg
    assert load_recording(tmp_path / "good.npz").data.shape == (4, 2000)


@pytest.mark.parametrize(("arrays", "said"), [
    ({"data": np.zeros((2, 1000)), "sfreq": "abc", "ch_names": np.array(["a", "b"])},
     "sfreq must be a number (Hz), got 'abc'"),
    ({"data": np.zeros((1000, 2)), "sfreq": 100.0, "ch_names": np.array(["a", "b"])},
     "data must be [n_chans, n_times]; its shape (1000, 2) has the 2 channels of ch_names along its second axis: "
     "save data.T"),
])
def test_a_bad_key_is_named_with_the_file(tmp_path: Path, arrays: dict, said: str) -> None:
    """Audit s66cli F13: "could not convert string to float: 'abc'" and "ch_names must have one name per channel
    (n_chans=1000), got 2" named neither the file nor the key (nor the layout)."""
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        load_recording(path)
    assert str(info.value) == f"{path}: {said}", str(info.value)


def _saved(path: Path, **arrays) -> Path:
    keys = {"data": np.zeros((2, 500)), "sfreq": np.float64(250.0), "ch_names": np.array(["C3", "C4"])}
    np.savez(path, **{**keys, **arrays})
    return path


def test_a_hand_made_archive_gets_errors_naming_its_keys(tmp_path):
    """An archive built by hand (audit s69io F9): each mistake is one DataError naming the key and the rule (before,
    a KeyError or an OverflowError traceback, 'neither a zip archive...' for an object array, and an empty recording
    accepted, so replay --loop spun a core pushing nothing)."""
    cases = [
        ({"sfreq": np.float64(np.inf)}, "sfreq must be a finite number of Hz above 0, got inf"),
        ({"data": np.zeros((2, 0))}, "data holds no sample \\(shape \\(2, 0\\)\\): nothing to read"),
        ({"ch_names": np.array(["C3", "C4"], dtype=object)}, "its array 'ch_names' holds Python objects \\(pickled\\)"),
        ({"event_onset": np.array([10])}, "event_onset must come with event_description"),
        ({"event_onset": np.array([10, 20]), "event_description": np.array(["a"])},
         "must have one entry per event; got 2, 2 and 1"),
    ]
    for i, (arrays, said) in enumerate(cases):
        path = _saved(tmp_path / f"r{i}.npz", **arrays)
        with pytest.raises(DataError, match=said):
            load_recording(path)


def test_events_without_durations_or_outside_the_samples(tmp_path):
    from bci_stream.io.errors import RecordingWarning
    from bci_stream.io.recording import Event

    path = _saved(tmp_path / "e.npz", event_onset=np.array([-5, 100, 600]),
                  event_description=np.array(["neg", "ok", "past"]))
    with pytest.warns(RecordingWarning, match="e.npz: 2 of its 3 events lie outside its 500 samples \\(event_onset "
                      "-5 \\(neg\\), 600 \\(past\\)\\): they mark no sample and are left out"):
        rec = load_recording(path)
    assert rec.events == [Event(100, 0, "ok")]  # no event_duration: 0 samples each
