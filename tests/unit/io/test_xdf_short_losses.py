"""A regular XDF signal stream that lost samples for less than a jump (0.5 s) places every marker on its own sample:
the reader keeps its stamps instead of pyxdf's de-jittering line, which spread the loss over the whole segment and
moved markers by up to half of it (s21 record helper: 46 samples off for a 100-sample loss at 250 Hz). A stream whose
stamps need de-jittering (chunks stamped on arrival over Bluetooth, a stair-case of equal stamps) is still de-jittered
by pyxdf, as before. Real EEG: the repository's EDF subset (S001 R05, 21 channels, 160 Hz), written with the
repository's XDF chunk writer."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.xdf import load_xdf
from bci_stream.io.xdf_clock import GRID_TOLERANCE, JUMP, step_irregularity
from support.common import subset_file
from support.marked import R05
from support.xdf import write_xdf

T0 = 2000.0


def _load(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_recording(path)


def _placed(path: Path) -> list[tuple[int, str]]:
    return [(e.onset, e.description) for e in _load(path).events if e.description != JUMP]


def _lossy(path: Path, sfreq: float, losses: list[tuple[int, int]]) -> tuple[Path, list[tuple[int, str]]]:
    """R05's samples sent at ``sfreq`` with per-sample stamps, ``losses`` ``(first sample, count)`` never recorded;
    markers: R05's events and one on each side of every loss, stamped with their sample's time. Returns the file and
    each marker's (sample in the file, value)."""
    rec = load_recording(subset_file(R05))
    lost = np.zeros(rec.n_times, dtype=bool)
    for at, count in losses:
        lost[at:at + count] = True
    kept = np.flatnonzero(~lost)
    stamps = T0 + kept / sfreq
    marks = sorted([(e.onset, e.description) for e in rec.events]
                   + [(at - 1, "before") for at, _ in losses] + [(at + n, "after") for at, n in losses])
    marks = [(int(np.searchsorted(kept, k)), v) for k, v in marks if not lost[k]]
    write_xdf(path, stamps, [("amp", "EEG", rec.ch_names, sfreq, rec.data[:, kept].T, "microvolts")],
              [("amp-markers", [float(stamps[k]) for k, _ in marks], [v for _, v in marks])])
    return path, marks


@pytest.mark.parametrize("sfreq, losses", [
    (250.0, [(3000, 25), (12000, 100)]),  # 0.1 s and 0.4 s (record.md's measurement: 12 and 46 samples off)
    (160.0, [(3000, 25), (12000, 79)]),  # the data's own rate: 79 samples = 0.494 s, the longest loss under a jump
])
def test_every_marker_on_its_sample_after_short_losses(tmp_path: Path, sfreq: float, losses) -> None:
    path, marks = _lossy(tmp_path / "lossy.xdf", sfreq, losses)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_recording(path)
    assert not [e for e in rec.events if e.description == JUMP]  # under 0.5 s: no jump, the data back to back
    assert rec.n_times == 20000 - sum(n for _, n in losses)
    assert [(e.onset, e.description) for e in rec.events] == marks
    (a, n1), (b, n2) = losses
    assert [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)] == [
        f"lossy.xdf: stream 'amp' lost {n1 + n2} sample(s) in 2 place(s), each for 0.5 s or less (no jump), at "
        f"sample {a} (t={a / sfreq:.3f} s in the file, {n1} lost), sample {b - n1} (t={(b - n1) / sfreq:.3f} s in the "
        f"file, {n2} lost): its samples are back to back there, as a decoder received them, with no event (a trial "
        "across a loss holds that many samples fewer); its markers are placed by the samples' own timestamps"]


def test_a_marker_stamped_inside_a_loss_goes_to_the_nearest_sample_kept(tmp_path: Path) -> None:
    sfreq, at, n = 250.0, 1000, 100
    kept = np.r_[0:at, at + n:3000]
    stamps = T0 + kept / sfreq
    data = np.random.default_rng(0).normal(0, 10, (len(kept), 2))
    lost_times = [T0 + (at + 10) / sfreq, T0 + (at + 90) / sfreq]  # near the loss's start, near its end
    path = write_xdf(tmp_path / "in.xdf", stamps, [("amp", "EEG", ["C3", "C4"], sfreq, data, "microvolts")],
                     [("cues", lost_times, ["early", "late"])])
    assert _placed(path) == [(at - 1, "early"), (at, "late")]


def _bluetooth(n_chunks: int, sfreq: float, chunk: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """True sample times and their stamps: each chunk stamped on arrival 0-100 ms late, liblsl back-computing the
    chunk's other stamps at the nominal period."""
    true = T0 + np.arange(n_chunks * chunk) / sfreq
    late = np.repeat(rng.uniform(0, 0.1, n_chunks), chunk)
    return true, true + late


def test_bluetooth_jitter_is_still_dejittered(tmp_path: Path) -> None:
    """Markers stamped at their sample's true time; the chunks' stamps 0-100 ms late: pyxdf's line (as before this
    fix: the same sample for every marker) places them by the mean lateness (~50 ms, 8 samples) off, not by the
    jitter of each chunk (up to 16 samples), which the stamps as they are would give."""
    rec0 = load_recording(subset_file(R05))
    sfreq, chunk = 160.0, 12
    rng = np.random.default_rng(3)
    true, stamps = _bluetooth(rec0.n_times // chunk, sfreq, chunk, rng)
    assert step_irregularity(stamps, sfreq) > GRID_TOLERANCE
    at = [e.onset for e in rec0.events if 100 <= e.onset < len(true) - 100]  # inside the line's span
    path = write_xdf(tmp_path / "bt.xdf", stamps, [("muse", "EEG", rec0.ch_names, sfreq, rec0.data[:, :len(true)].T,
                                                    "microvolts")],
                     [("cues", [float(true[k]) for k in at], ["m"] * len(at))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        placed = np.array([e.onset for e in load_recording(path).events])
    assert not [w for w in caught if issubclass(w.category, RecordingWarning)]  # no loss, no jump said
    streams, _ = load_xdf(path, jitter_break_threshold_seconds=0.5, jitter_break_threshold_samples=3)
    line = streams[0]["time_stamps"]  # pyxdf's de-jittered stamps: what the reader placed markers by before
    assert placed.tolist() == [int(np.argmin(np.abs(line - true[k]))) for k in at]
    off = placed - np.array(at)
    assert np.all((off <= 0) & (off >= -10))  # late stamps: markers placed early, by about the mean lateness
    raw = np.array([int(np.argmin(np.abs(stamps - true[k]))) for k in at]) - np.array(at)
    assert np.ptp(off) < np.ptp(raw)  # the line is steadier than the chunks' own stamps


def test_a_stair_case_is_still_dejittered(tmp_path: Path) -> None:
    """Each chunk's samples stamped alike (the chunk's last sample's time): markers on their samples, as pyxdf's
    line gives them (the stamps as they are would put every marker of a chunk on its last sample)."""
    sfreq, chunk, n = 250.0, 10, 5000
    true = T0 + np.arange(n) / sfreq
    stamps = np.repeat(true[chunk - 1::chunk], chunk)
    assert math.isinf(step_irregularity(stamps, sfreq))
    at = [123, 2001, 4567]
    path = write_xdf(tmp_path / "stairs.xdf", stamps,
                     [("amp", "EEG", ["C3", "C4"], sfreq, np.random.default_rng(0).normal(0, 10, (n, 2)),
                       "microvolts")], [("cues", [float(true[k]) for k in at], ["a", "b", "c"])])
    placed = [k for k, _ in _placed(path)]
    assert all(abs(p - k) <= 5 for p, k in zip(placed, at)) and len(placed) == 3  # the line: (chunk - 1) / 2 late


def test_step_irregularity() -> None:
    sfreq = 250.0
    t = T0 + np.arange(5000) / sfreq
    assert step_irregularity(t, sfreq) < 1e-6
    assert step_irregularity(np.r_[t[:1000], t[1100:]], sfreq) < 1e-6  # lost samples: a step of 101
    assert step_irregularity(t[::4] / 4, sfreq) < 1e-6  # another rate than the nominal (a fast replay recorded)
    assert step_irregularity(np.r_[t[:1000], t[1000:] + 2.0], sfreq) < 1e-6  # a jump is not judged here
    assert step_irregularity(t + np.r_[np.zeros(2500), np.full(2500, 0.3 / sfreq)], sfreq) == pytest.approx(0.3)
    assert step_irregularity(t[:1], sfreq) == 0.0


def test_a_service_recording_with_a_loss_places_its_cues_on_their_samples(tmp_path: Path) -> None:
    """The service's Recorder (as ``bci-stream record`` or a decoder writes it): 250 Hz, chunks of 10, a 100-sample
    loss (0.4 s) at sample 1000; cues stamped with their samples' stamps (record.md: 862/1146/1524/2375 before)."""
    from bci_stream.service.recorder import Recorder

    sfreq, n, at, hole = 250.0, 2500, 1000, 100
    ts = 1000.0 + np.r_[0:at, at + hole:n + hole] / sfreq
    x = load_recording(subset_file(R05)).data[:2, :n].T.astype(np.float32)
    rec = Recorder(tmp_path / "rec.xdf", dict(name="eeg", type="EEG", ch_names=["C3", "C4"], sfreq=sfreq,
                                              channel_format="float32", source_id="s", unit="microvolts"),
                   None, flush_interval=0.05)
    rec.marker_stream({"name": "eeg-markers"})
    for c in range(0, n, 10):
        rec.inputs(x[c:c + 10], ts[c:c + 10])
        if c % 500 == 0:
            rec.clock_offset(float(ts[c]), 0.0)
    cues = [200, 900, 999, 1000, 1100, 1500, 2400]
    for k in cues:
        rec.marker(float(ts[k]), f"m{k}")
    rec.close()
    assert _placed(tmp_path / "rec.xdf") == [(k, f"m{k}") for k in cues]


def test_a_loss_amid_bluetooth_jitter_breaks_the_line_there(tmp_path: Path) -> None:
    """Chunks stamped on arrival 0-100 ms late with 4 chunks (48 samples, 0.3 s) never sent mid-file: the loss is
    found net of the jitter (as the service counts it), said, and the line broken there, so the markers on both sides
    stay as close to their samples as without a loss (one line across it put them up to half the loss off)."""
    rec0 = load_recording(subset_file(R05))
    sfreq, chunk = 160.0, 12
    rng = np.random.default_rng(3)
    true, stamps = _bluetooth(rec0.n_times // chunk, sfreq, chunk, rng)
    lost = np.zeros(len(true), bool)
    lost[6000:6048] = True
    kept = np.flatnonzero(~lost)
    at = [k for k in (e.onset for e in rec0.events) if 100 <= k < len(true) - 100 and not lost[k]]
    path = write_xdf(tmp_path / "bt.xdf", stamps[kept], [("muse", "EEG", rec0.ch_names, sfreq,
                                                          rec0.data[:, kept].T, "microvolts")],
                     [("cues", [float(true[k]) for k in at], ["m"] * len(at))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        placed = np.array([e.onset for e in load_recording(path).events])
    said = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    assert len(said) == 1 and "found net of its timestamps' jitter" in said[0] and "in 1 place(s)" in said[0], said
    assert "at sample 6000 (" in said[0]  # where the loss is, not where the window that counted it opened
    n_lost = int(said[0].split(" lost ")[1].split(" sample")[0])
    assert abs(n_lost - 48) <= 0.15 * 48
    off = placed - np.searchsorted(kept, at)  # in the file's samples
    assert np.all((off <= 0) & (off >= -10)), off  # as without a loss: by about the mean lateness, early


def test_a_stair_case_that_lost_chunks_breaks_its_line_there(tmp_path: Path) -> None:
    """Chunks of 10 stamped alike (their last sample's time) at 250 Hz, 3 chunks (0.12 s) never sent: said and the
    line broken there, so the markers on both sides stay on their samples (one line across it: up to 19 off)."""
    sfreq, chunk, n = 250.0, 10, 5000
    true = T0 + np.arange(n) / sfreq
    stamps = np.repeat(true[chunk - 1::chunk], chunk)
    kept = np.r_[0:2500, 2530:n]
    at = [123, 2001, 2499, 2530, 2600, 4567]
    path = write_xdf(tmp_path / "stairs.xdf", stamps[kept],
                     [("amp", "EEG", ["C3", "C4"], sfreq, np.random.default_rng(0).normal(0, 10, (len(kept), 2)),
                       "microvolts")], [("cues", [float(true[k]) for k in at], ["a", "b", "c", "d", "e", "f"])])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        placed = [e.onset for e in load_recording(path).events]
    said = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    assert len(said) == 1 and "lost 30 sample(s) in 1 place(s)" in said[0] and "at sample 2500 (" in said[0], said
    expected = np.searchsorted(kept, at)
    assert len(placed) == 6 and np.all(np.abs(np.array(placed) - expected) <= 5), (placed, expected)
