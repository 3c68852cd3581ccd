"""Channels a lab marked bad in its files (mne's ``info['bads']``): loaders carry them in ``Recording.bad_channels``,
calibrate leaves out the union over the files by default (saying which, in which file), ``--channels`` may still use
one (said too). Also: the non-EEG note names the file when only some files type a channel so, and a file whose
events use other names is refused naming every such file with its own events. Real FIF files written with mne from
the repository's EDF subset (S001 R05/R06, 21 channels)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from bci_stream.io import load_recording
from bci_stream.io.mne_formats import save_fif
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import SUBSET_S001_21CH, subset_file

mne = pytest.importorskip("mne")

R05, R06, R09 = (SUBSET_S001_21CH / f"S001R{n:02d}.edf" for n in (5, 6, 9))
LABELS = {"T1": "fists", "T2": "feet"}


def _fif(src: Path, out: Path, *, bads: Sequence[str] = (), types: Mapping[str, str] | None = None,
         events: Mapping[str, str] | None = None, drop: Sequence[str] = ()) -> Path:
    """``src`` written by mne as a FIF file: ``bads`` in ``info['bads']``, channel ``types`` (name → mne type; others
    eeg), events renamed by ``events`` (old → new), channels ``drop`` left out."""
    rec = load_recording(subset_file(src))
    keep = [i for i, n in enumerate(rec.ch_names) if n not in drop]
    names = [rec.ch_names[i] for i in keep]
    info = mne.create_info(names, rec.sfreq, ch_types=[(types or {}).get(n, "eeg") for n in names], verbose="error")
    info["bads"] = list(bads)
    raw = mne.io.RawArray(rec.data[keep] * 1e-6, info, verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events], [0.0] * len(rec.events),
                                        [(events or {}).get(e.description, e.description) for e in rec.events]))
    raw.save(out, overwrite=True, verbose="error")
    return out


def test_loaders_carry_the_files_bad_channels(tmp_path: Path) -> None:
    path = _fif(R05, tmp_path / "a_raw.fif", bads=["C4.."])
    assert load_recording(path).bad_channels == ["C4.."]
    assert load_recording(subset_file(R05)).bad_channels == []  # EDF has no such mark
    renamed = load_recording(path, rename_channels=[f"ch{i}" for i in range(21)])
    assert renamed.bad_channels == ["ch12"]  # the same channel under its new name
    assert load_recording(path, ch_names=["C3", "Cz"]).bad_channels == []  # not picked
    again = load_recording(save_fif(load_recording(path), tmp_path / "again_raw.fif"))
    assert again.bad_channels == ["C4.."]  # written back to FIF


def test_calibrate_leaves_out_every_files_bad_channels_and_names_the_files(tmp_path: Path) -> None:
    a = _fif(R05, tmp_path / "a_raw.fif", bads=["C4.."])
    b = _fif(R06, tmp_path / "b_raw.fif", bads=["Cz.."])
    prep = load_calibration([a, b], LABELS)
    assert len(prep.ch_names) == 19 and not {"C4..", "Cz.."} & set(prep.ch_names)
    assert all(not {"C4..", "Cz.."} & set(r.ch_names) for r in prep.runs)
    assert any("left out 2 channel(s) marked bad in the files: Cz.. (b_raw.fif), C4.. (a_raw.fif)" in n
               for n in prep.notes), prep.notes
    # --channels overrides: a bad channel it names is used, and said
    chosen = load_calibration([a, b], LABELS, channels=["C3", "C4", "Cz"])
    assert chosen.ch_names == ["C3..", "C4..", "Cz.."]
    assert "--channels uses 1 channel(s) marked bad in a_raw.fif: C4.." in chosen.notes, chosen.notes
    assert "--channels uses 1 channel(s) marked bad in b_raw.fif: Cz.." in chosen.notes, chosen.notes
    both = load_calibration([a, _fif(R06, tmp_path / "c_raw.fif", bads=["C4.."])], LABELS)
    assert any("marked bad in the files: C4.. (every file);" in n for n in both.notes), both.notes


def test_a_channel_marked_bad_in_one_file_and_absent_from_another_calibrates(tmp_path: Path) -> None:
    a = _fif(R05, tmp_path / "a_raw.fif", bads=["C4.."])
    b = _fif(R06, tmp_path / "b_raw.fif", drop=["C4.."])  # the lab removed the broken electrode here
    for paths in ([a, b], [b, a]):
        prep = load_calibration(paths, LABELS)
        assert len(prep.ch_names) == 20 and "C4.." not in prep.ch_names


def test_the_non_eeg_note_names_the_file_when_only_some_files_type_the_channel_so(tmp_path: Path) -> None:
    a = _fif(R05, tmp_path / "a_raw.fif", types={"Fcz.": "eog"})
    b = _fif(R06, tmp_path / "b_raw.fif")
    for paths in ([a, b], [b, a]):  # whichever file comes first
        prep = load_calibration(paths, LABELS)
        assert "Fcz." not in prep.ch_names and len(prep.ch_names) == 20
        assert any("left out 1 channel(s) that are not EEG: Fcz. (type eog in a_raw.fif)" in n
                   for n in prep.notes), prep.notes
    both = load_calibration([a, _fif(R06, tmp_path / "c_raw.fif", types={"Fcz.": "eog"})], LABELS)
    assert any("not EEG: Fcz. (type eog);" in n for n in both.notes), both.notes  # every file says so: no names


def test_files_whose_events_use_other_names_are_all_named_with_their_events(tmp_path: Path) -> None:
    other = {"T0": "rest", "T1": "left", "T2": "right"}
    a = _fif(R05, tmp_path / "a_raw.fif", events=other)
    b = _fif(R06, tmp_path / "b_raw.fif", events=other)
    counts = {p: load_recording(p).events for p in (a, b)}
    with pytest.raises(CalibrationError) as err:
        load_calibration([subset_file(R05), a, subset_file(R06), b], LABELS)
    msg = str(err.value)
    for p, events in counts.items():
        n = {d: sum(e.description == d for e in events) for d in ("left", "rest", "right")}
        assert f"{p} (its events: 'left' ×{n['left']}, 'rest' ×{n['rest']}, 'right' ×{n['right']})" in msg, msg
    assert "have no cue of --labels ['T1', 'T2']" in msg, msg
    assert "add their events to --labels (e.g. left=CLASS), or leave those files out" in msg, msg
    with pytest.raises(CalibrationError, match=r"a_raw.fif \(its events: .*\) has no cue .*: add its events to "
                                               r"--labels \(e\.g\. left=CLASS\), or leave the file out"):
        load_calibration([subset_file(R05), a, subset_file(R06)], LABELS)


def test_a_channel_bad_in_one_file_and_absent_from_another_is_left_out_in_any_order(tmp_path: Path) -> None:
    """One file marks Cz bad, one has it, one lacks it: the default leaves it out whatever the files' order (it was
    refused as "channels differ" in two of the three orders: review 2, F2)."""
    a = _fif(R05, tmp_path / "a_raw.fif", bads=["Cz.."])
    b = _fif(R06, tmp_path / "b_raw.fif")
    c = _fif(R09, tmp_path / "c_raw.fif", drop=["Cz.."])  # another run (R05 again is refused as given twice)
    for order in ([a, b, c], [c, b, a], [b, a, c]):
        prep = load_calibration(order, LABELS)
        assert len(prep.ch_names) == 20 and "Cz.." not in prep.ch_names, [p.name for p in order]


def test_every_channel_marked_bad_says_so(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R05))
    d = _fif(R05, tmp_path / "d_raw.fif", bads=list(rec.ch_names))
    with pytest.raises(CalibrationError, match="marked bad in the files"):
        load_calibration([d], LABELS)
