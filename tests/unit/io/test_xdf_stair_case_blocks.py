"""An XDF signal stream in stair-case form (every sample of a chunk has the chunk's one stamp, its arrival) with
chunks longer than 0.5 s (a device SDK or bridge delivering 0.6 s or 1 s blocks) loads, with no jump, and its markers
within a block of their samples (review s21 F1: the reader gave pyxdf a 0.5 s jitter-break threshold, pyxdf then
fitted a line of slope 0 on each stair, the stamps went back at every stair and the file was refused as a clock
reset). The reader now loads the file once (review F3: a second load of the signal stream cost ~2.8x the read time),
without pyxdf's de-jittering, so pyxdf's ``Segments and clock-segments differ`` no longer comes with every jump in a
stream with clock offsets (review F5: the reader's own warning names the jump). Real EEG: the repository's EDF
subset (S001 R05, 21 channels, 160 Hz), written with the repository's XDF chunk writer."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import bci_stream.io.xdf as xdf_module
from bci_stream.io import load_recording
from bci_stream.io.xdf_clock import JUMP, forward_jumps
from support.common import subset_file
from support.loading import load_warned
from support.marked import R05
from support.two_runs_xdf import two_runs_xdf
from support.xdf import write_xdf

T0 = 1000.0


def _stairs(path: Path, block_s: float, pause_s: float = 0.0) -> tuple[Path, int, list[int]]:
    """R05 at 160 Hz, each block of ``block_s`` stamped at its last sample's time + 4 ms (its arrival); a pause of
    ``pause_s`` before the middle block (none for 0). Markers: R05's events stamped at their samples' true times,
    but for those in the first or last block (the line through the stairs starts about half a block late, so a marker
    at the very start is outside the recording's time span). Returns the file, the block length in samples and the
    markers' samples."""
    rec = load_recording(subset_file(R05))
    sfreq, n = rec.sfreq, rec.n_times
    b = int(round(block_s * sfreq))
    true = T0 + np.arange(n) / sfreq
    true[(n // b // 2) * b:] += pause_s
    last = np.minimum((np.arange(n) // b) * b + b - 1, n - 1)
    events = [e for e in rec.events if b <= e.onset < n - b]
    at = [e.onset for e in events]
    write_xdf(path, true[last] + 0.004, [("amp", "EEG", rec.ch_names, sfreq, rec.data.T, "microvolts")],
              [("cues", [float(true[k]) for k in at], [e.description for e in events])])
    return path, b, at


@pytest.mark.parametrize("block_s", [0.25, 0.6, 1.0])
def test_a_stair_case_of_long_blocks_loads_with_no_jump(tmp_path: Path, block_s: float) -> None:
    path, b, at = _stairs(tmp_path / "stairs.xdf", block_s)
    rec, said = load_warned(path)
    assert said == []  # no clock reset, no jump, no loss, the rate right
    assert [e for e in rec.events if e.description == JUMP] == []
    placed = [e.onset for e in rec.events]
    assert len(placed) == len(at) and max(abs(p - k) for p, k in zip(placed, at)) <= b  # within a block: the
    # lateness of stamps taken at arrival builds in (about half a block), which no reader can remove


def test_a_pause_in_a_stair_case_is_a_jump(tmp_path: Path) -> None:
    """Blocks of 1 s (160 samples), a 2 s pause before the middle block: one jump, at that block's first sample."""
    path, b, at = _stairs(tmp_path / "paused.xdf", 1.0, pause_s=2.0)
    rec, said = load_warned(path)
    middle = (rec.n_times // b // 2) * b
    assert [e.onset for e in rec.events if e.description == JUMP] == [middle]
    assert len(said) == 1 and f"at sample {middle} " in said[0]
    placed = [e.onset for e in rec.events if e.description != JUMP]
    assert len(placed) == len(at) and max(abs(p - k) for p, k in zip(placed, at)) <= b


def test_forward_jumps_take_off_the_time_a_stair_covers() -> None:
    sfreq = 250.0
    t = np.arange(5000) / sfreq
    assert forward_jumps(np.repeat(t[149::150], 150), sfreq).tolist() == []  # stairs of 0.6 s, stamped at the end
    assert forward_jumps(np.repeat(t[::150], 150), sfreq).tolist() == []  # ... at the start
    per_sample = np.r_[t[:1000], t[1000:] + 0.5]  # a step of 0.504 s: over 0.5 s, as the service's gap rule
    assert forward_jumps(per_sample, sfreq).tolist() == [1000]
    assert forward_jumps(np.r_[t[:1000], t[1000:] + 0.49], sfreq).tolist() == []


def test_a_jump_gives_no_pyxdf_segments_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two runs in one file, 2 s apart, with clock offsets: the reader says the jump (RecordingWarning); pyxdf's
    ``Stream 1: Segments and clock-segments differ`` (its jitter segments broken at the jump, its clock segments
    not) repeated it."""
    run = two_runs_xdf(tmp_path / "two.xdf", jump=2.0)
    with caplog.at_level(logging.WARNING):
        rec, said = load_warned(run.path)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pyxdf")] == []
    assert [e.onset for e in rec.events if e.description == JUMP] == [run.n1]
    assert len(said) == 1 and "jump forward 1 time(s)" in said[0]


def test_read_xdf_loads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A regular stream (per-sample stamps, the two-run file) and a stair-case: pyxdf reads the file once."""
    calls: list[dict] = []
    load_xdf = xdf_module.load_xdf

    def counted(path, **options):
        calls.append(options)
        return load_xdf(path, **options)

    monkeypatch.setattr(xdf_module, "load_xdf", counted)
    load_warned(two_runs_xdf(tmp_path / "two.xdf").path)
    load_warned(_stairs(tmp_path / "stairs.xdf", 0.25)[0])
    assert calls == [{"dejitter_timestamps": False}] * 2


def test_a_rate_off_the_nominal_one_is_said(tmp_path: Path) -> None:
    """Samples at half the nominal rate: pyxdf said it when it de-jittered; the reader says it now."""
    stamps = T0 + np.arange(1000) / 50.0
    path = write_xdf(tmp_path / "slow.xdf", stamps, [("eeg", "EEG", ["C3", "C4"], 100.0,
                                                     np.random.default_rng(1).normal(0, 20, (1000, 2)), "microvolts")],
                     [], clock_offsets=False)
    _, said = load_warned(path)
    assert said == ["slow.xdf: stream 'eeg' runs at 50 Hz by its timestamps, not its nominal rate 100 Hz: its samples "
                    "are taken at the nominal rate, its markers placed by the timestamps"]
