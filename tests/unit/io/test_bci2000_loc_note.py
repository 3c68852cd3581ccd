"""A BCI2000 file without ``ChannelNames`` is named by the only ``.loc`` file of its channel count beside it: now said
(audit s43, F4). Before, nothing in calibrate's output, report or card said so, and a ``.loc`` of another cap's order
with the same count would have mislabelled every channel unseen."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from bci_stream.io import load_recording
from bci_stream.io.errors import RecordingWarning
from support.bci2000 import write_bci2000

NAMES = ["C3", "Cz", "C4", "Pz"]


def loc(path: Path, names: list[str]) -> None:
    """An EEGLAB ``.loc``: index, theta, radius, label."""
    path.write_text("".join(f"{k + 1}\t{10 * k}\t0.5\t{n}\n" for k, n in enumerate(names)))


def said(path: Path) -> tuple[list[str], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_recording(path)
    return rec.ch_names, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


def test_channels_named_by_the_loc_beside_the_file_are_said_and_numbered_ones_are_not(tmp_path: Path) -> None:
    raw = np.random.default_rng(0).integers(-500, 500, (4, 400))
    path = write_bci2000(tmp_path / "run.dat", raw, 100.0, None, {"StimulusCode": np.zeros(400)})
    assert said(path) == (["1", "2", "3", "4"], [])  # no .loc: numbered, as before
    loc(tmp_path / "cap4.loc", NAMES)
    loc(tmp_path / "cap64.loc", [f"E{k}" for k in range(64)])  # another count: not a candidate
    names, notes = said(path)
    assert names == NAMES
    assert notes == ["run.dat has no ChannelNames parameter: its 4 channels are named by cap4.loc beside it (the only "
                     ".loc file there of 4 channels); if that is not this recording's montage, name them with "
                     "--channel-names"]
    named = write_bci2000(tmp_path / "named.dat", raw, 100.0, ["Fz", "C3", "C4", "Oz"], {"StimulusCode": np.zeros(400)})
    assert said(named) == (["Fz", "C3", "C4", "Oz"], [])  # its own names: the .loc is not read
