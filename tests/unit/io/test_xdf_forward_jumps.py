"""An XDF signal stream whose timestamps jump forward (two runs recorded into one file, a pause) is read with a
``timestamp jump`` discontinuity at the first sample after each jump and a RecordingWarning naming the file, the
stream, the sample, its time and the jump's length; it was read as one continuous run (s21 audit, finding 2).

A jump shorter than pyxdf's own jitter-break threshold (max(1 s, 500 samples): 3.1 s at 160 Hz) was also spread by
its de-jittering over the whole recording, moving every marker: the reader now breaks pyxdf's segments at the same
threshold as the jumps it marks. Jitter (chunks stamped on arrival up to 0.1 s late, as over Bluetooth) marks none.
Real EEG: the repository's EDF subset (S001 R05/R06, 21 channels, 160 Hz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Event
from bci_stream.io.session import read_session
from bci_stream.io.xdf_clock import JUMP, jump_threshold
from bci_stream.service.recorder import Recorder
from bci_stream.sim.replay import discontinuity_warning
from bci_stream.train.classical.bad_spans import is_boundary
from support.loading import load_warned
from support.two_runs_xdf import two_runs_xdf
from support.xdf import write_xdf


def test_two_runs_in_one_file_are_split_by_a_jump_event_and_said(tmp_path: Path) -> None:
    run = two_runs_xdf(tmp_path / "two.xdf", jump=2.0)  # under pyxdf's default break threshold at 160 Hz
    rec, said = load_warned(run.path)
    assert is_boundary(JUMP)  # calibrate, evaluate and replay take it as a discontinuity
    assert [e for e in rec.events if e.description == JUMP] == [Event(run.n1, 0, JUMP)]
    assert said == [
        f"two.xdf: the timestamps of stream 'amp1' jump forward 1 time(s), by more than 0.5 s (no jitter steps that "
        f"far), at sample {run.n1} (t={run.n1 / 160:.3f} s in the file, 2.000 s after the sample before): a break in "
        "the recording (a pause, a restarted sender or recording, lost samples), whose two sides are back to back in "
        "the data; each is marked by a 'timestamp jump' event, a discontinuity: calibrate and evaluate leave out the "
        "trials across it and the settling after it. Samples and markers sent during the break are not in the file "
        "(a cue at the very start of a resumed run may be missing)"]
    # every marker on its own sample on both sides (pyxdf's de-jittering no longer spreads the jump over the file)
    assert [(e.onset, e.description) for e in rec.events if e.description != JUMP] == run.markers
    # replay (which streams the two sides back to back) says where
    text = discontinuity_warning(rec, "two.xdf", "amp1-markers")
    assert text is not None and f"lost samples) at t={run.n1 / 160:.3f} s" in text
    assert "timestamp jump (the XDF file's timestamps jump forward: a pause, a restarted sender or" in text


def test_a_marker_span_ends_at_the_jump(tmp_path: Path) -> None:
    run = two_runs_xdf(tmp_path / "two.xdf")
    rec, _ = load_warned(run.path, until_next=True)
    last = max((e for e in rec.events if e.onset < run.n1 and e.description != JUMP), key=lambda e: e.onset)
    assert last.onset + last.duration == run.n1  # not into the second run
    first = min((e for e in rec.events if e.onset >= run.n1 and e.description != JUMP), key=lambda e: e.onset)
    assert first.duration > 0


def _bluetooth_stamps(n_chunks: int, *, sfreq: float = 250.0, chunk: int = 12, pause_after: int | None = None,
                      pause: float = 0.0, seed: int = 0) -> np.ndarray:
    """Chunks stamped with their arrival time, 0-100 ms late (liblsl back-computes a chunk's other stamps), and a
    pause of ``pause`` s (samples not sent) after chunk ``pause_after``."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(n_chunks):
        end = 1000.0 + (c + 1) * chunk / sfreq + (pause if pause_after is not None and c > pause_after else 0.0)
        out.append(end + rng.uniform(0, 0.1) - np.arange(chunk - 1, -1, -1) / sfreq)
    return np.concatenate(out)


@pytest.mark.parametrize("pause", [0.0, 0.6])
def test_bluetooth_jitter_is_no_jump_and_a_pause_amid_it_is_one(tmp_path: Path, pause: float) -> None:
    stamps = _bluetooth_stamps(1500, pause_after=700, pause=pause)  # 72 s at 250 Hz
    data = np.random.default_rng(1).normal(0, 10, (len(stamps), 2))
    path = write_xdf(tmp_path / "bt.xdf", stamps, [("muse", "EEG", ["C3", "C4"], 250.0, data, "microvolts")],
                     [("cues", [float(stamps[100]), float(stamps[-100])], ["T1", "T2"])])
    rec, said = load_warned(path)
    jumps = [e.onset for e in rec.events if e.description == JUMP]
    assert jumps == ([701 * 12] if pause else []) and len(said) == (1 if pause else 0)
    placed = [e.onset for e in rec.events if e.description != JUMP]  # stamped with a jittered sample's stamp
    assert len(placed) == 2 and np.allclose(placed, [100, len(stamps) - 100], atol=13)  # 13: 50 ms, half the jitter


def test_the_threshold_is_the_service_gap_threshold_or_three_periods() -> None:
    assert jump_threshold(160.0) == 0.5 and jump_threshold(2048.0) == 0.5  # gap_threshold_s's default
    assert jump_threshold(4.0) == 0.75  # a slow stream: a step of one or two periods is no break


def test_a_service_recording_marks_the_jump_where_its_gap_event_is(tmp_path: Path) -> None:
    """The recorder's file (as a decoder writes it across a restarted sender): the XDF reader and read_session put
    the jump on the sample whose seq the decoder's ``gap`` event names (the first after the gap)."""
    sfreq, chunk = 160.0, 16
    ih = dict(name="amp1", type="EEG", ch_names=["C3", "C4"], sfreq=sfreq, channel_format="float32",
              source_id="amp", unit="microvolts")
    oh = dict(name="amp1-decoded", labels=["left", "right"], sfreq=sfreq, source_id="amp/decoded/abc",
              model={"name": "m", "version": "1.0.0", "sha256": "0" * 64})
    rec = Recorder(tmp_path / "s.xdf", ih, oh, flush_interval=0.05)
    rec.event(1000.0, "start")
    k, last = 0, 0.0
    for c in range(40):
        t = 1000.0 + (c * chunk + np.arange(chunk)) / sfreq + (3.784 if c >= 25 else 0.0)
        if c == 25:
            rec.event(float(t[0]), "gap", seconds=float(t[0] - last), policy="keep", seq=k)
        rec.inputs(np.random.default_rng(c).normal(0, 10, (chunk, 2)).astype(np.float32), t)
        rec.outputs(np.full((chunk, 2), 0.5, np.float32), t, np.arange(k, k + chunk), 0)
        rec.clock_offset(float(t[-1]), 0.0)
        k, last = k + chunk, float(t[-1])
    rec.close()
    gap_seq = [e["seq"] for _, e in read_session(tmp_path / "s.xdf").events if e["event"] == "gap"]
    assert gap_seq == [25 * chunk]
    assert read_session(tmp_path / "s.xdf").inputs.events == [Event(25 * chunk, 0, JUMP)]
    loaded, said = load_warned(tmp_path / "s.xdf")
    assert loaded.events == [Event(25 * chunk, 0, JUMP)] and len(said) == 1
