"""Two runs of real EEG recorded into one XDF file, as a recording decoder (or LabRecorder) that kept running while the
lab restarted its amplifier or stimulus program writes them: the second run's samples follow the first's in the
file, their timestamps jump forward by the time nothing was recorded (s21 audit, finding 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bci_stream.io import load_recording
from support.common import subset_file
from support.marked import R05, R06, SFREQ
from support.xdf import write_xdf

T0 = 5000.0  # the first sample's timestamp (LSL clock, s)


@dataclass
class TwoRuns:
    """Where the file's samples come from: R05 ``[0, n1)``, then R06 from ``start2``; ``jump`` s between them."""

    path: Path
    n1: int
    start2: int
    jump: float
    markers: list[tuple[int, str]]  # (sample in the file, value) of every marker written


def cue_onsets(src: Path) -> list[int]:
    """The samples of ``src``'s T1/T2 cues."""
    return [e.onset for e in load_recording(subset_file(src)).events if e.description in ("T1", "T2")]


def two_runs_xdf(path: Path, *, jump: float = 2.0, cut_after: float = 1.5, start_before: float = 1.0,
                 cue1: int = 10, cue2: int = 3) -> TwoRuns:
    """R05 up to ``cut_after`` s after its cue ``cue1`` (that trial reaches the jump), then R06 from ``start_before``
    s before its cue ``cue2`` (in the settling after the jump), in one stream ``amp1`` (µV) whose timestamps step
    ``jump`` s at the junction, with a marker stream ``amp1-markers`` of both files' events (T0, T1, T2)."""
    a, b = load_recording(subset_file(R05)), load_recording(subset_file(R06))
    n1 = cue_onsets(R05)[cue1] + int(round(cut_after * SFREQ))
    start2 = cue_onsets(R06)[cue2] - int(round(start_before * SFREQ))
    n2 = b.n_times - start2
    stamps = np.r_[T0 + np.arange(n1) / SFREQ, T0 + (n1 - 1) / SFREQ + jump + np.arange(n2) / SFREQ]
    data = np.hstack([a.data[:, :n1], b.data[:, start2:]]).T
    markers = ([(e.onset, e.description) for e in a.events if e.onset < n1]
               + [(n1 + e.onset - start2, e.description) for e in b.events if e.onset >= start2])
    write_xdf(path, stamps, [("amp1", "EEG", a.ch_names, SFREQ, data, "microvolts")],
              [("amp1-markers", [float(stamps[k]) for k, _ in markers], [v for _, v in markers])])
    return TwoRuns(Path(path), n1, start2, jump, markers)
