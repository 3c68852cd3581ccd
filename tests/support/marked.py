"""Real EEG (the repository's S001 R05/R06 EDF subset, 21 channels, 160 Hz) rewritten with the marks a lab's files
carry: FIF with ``BAD_*`` / event-code annotations and NaN/inf stretches (written by mne), EEGLAB ``.set`` with
``boundary`` events (written with scipy, read back by mne)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bci_stream.io import load_recording
from support.common import SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}
SFREQ = 160.0
FAST_CHANNELS = ["Fc3", "Fcz", "Fc4", "C3", "Cz", "C4", "Cp3", "Cp4"]  # few channels: few candidates, a fast fit


def cues(src: Path = R05) -> list[tuple[int, str]]:
    """The (onset sample, class) of every cue of ``src``, in time order."""
    rec = load_recording(subset_file(src))
    return sorted((e.onset, LABELS[e.description]) for e in rec.events if e.description in LABELS)


def marked_fif(out: Path, *, extra: Sequence[tuple[float, float, str]] = (),
               nan: Sequence[tuple[Sequence[int], float, float, float]] = (), src: Path = R05,
               bads: Sequence[str] = ()) -> Path:
    """``src`` written by mne as FIF, its events kept, ``extra`` annotations (onset s, duration s, description)
    added, ``nan`` stretches (channel rows, start s, stop s, value: NaN or inf) written into the samples, and
    ``bads`` in ``info['bads']``."""
    import mne

    rec = load_recording(subset_file(src))
    data = rec.data.copy()
    for rows, start, stop, value in nan:
        data[list(rows), int(round(start * SFREQ)):int(round(stop * SFREQ))] = value
    info = mne.create_info(rec.ch_names, rec.sfreq, ch_types="eeg", verbose="error")
    info["bads"] = list(bads)
    raw = mne.io.RawArray(data * 1e-6, info, verbose="error")
    ev = [(e.onset / rec.sfreq, e.duration / rec.sfreq, e.description) for e in rec.events] + list(extra)
    raw.set_annotations(mne.Annotations(*map(list, zip(*ev))))
    raw.save(out, overwrite=True, verbose="error")
    return out


def eeglab_with_boundaries(out: Path, boundaries: Sequence[float], src: Path = R05) -> Path:
    """``src`` as an EEGLAB .set (data in the .set, µV), its events kept and a ``boundary`` event at each of
    ``boundaries`` (s) with the duration EEGLAB gives it: the samples it cut out there (here 3 s)."""
    from scipy import io as sio

    rec = load_recording(subset_file(src))
    ev = sorted([(e.onset, e.duration, e.description) for e in rec.events]
                + [(int(round(b * SFREQ)), 3 * SFREQ, "boundary") for b in boundaries])
    event = np.zeros(len(ev), dtype=[("type", object), ("latency", float), ("duration", float)])
    for i, (onset, dur, desc) in enumerate(ev):
        event[i] = (desc, onset + 1.0, dur)  # EEGLAB latencies count from 1
    chanlocs = np.zeros(rec.n_chans, dtype=[("labels", object)])
    for i, name in enumerate(rec.ch_names):
        chanlocs[i] = (name,)
    n = rec.data.shape[1]
    eeg = {"setname": "s001r05", "nbchan": float(rec.n_chans), "pnts": float(n), "trials": 1.0, "srate": rec.sfreq,
           "xmin": 0.0, "xmax": (n - 1) / rec.sfreq, "data": rec.data.astype(np.float32), "chanlocs": chanlocs,
           "event": event, "icawinv": np.array([]), "icasphere": np.array([]), "icaweights": np.array([])}
    sio.savemat(out, {"EEG": eeg}, appendmat=False)
    return out


def calibrated(out: Path, name: str = "clean", src: Path = R06) -> Path:
    """A registry ``out`` holding ``name``, calibrated by ``calibrate`` on the clean ``src`` alone (fists/feet,
    :data:`FAST_CHANNELS`, the classical families only: a fast fit)."""
    from bci_stream.train.classical.calibration import calibrate

    calibrate([subset_file(src)], LABELS, name, out, channels=FAST_CHANNELS, progress=False, echo=lambda _: None,
              recurrent=False, average=False, combined=False)
    return out


def calibrated_once(tmp_path_factory, name: str = "clean", src: Path = R06) -> Path:
    """The registry folder :func:`calibrated` writes for ``name`` and ``src``, calibrated once per pytest run and
    shared by its xdist workers and test files (:func:`support.run_cache.shared_folder`): read only."""
    from support.run_cache import shared_folder

    key = {"kind": "support.marked.calibrated", "name": name, "src": str(src)}
    return shared_folder(tmp_path_factory, key, lambda folder: calibrated(folder / "models", name, src)) / "models"
