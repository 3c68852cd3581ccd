"""`bci-stream record` judges the sender's stamps as a decoder judges its input's (``StampChecks``): a sender stamping
Unix time, or sending at another rate than it declares, is said while the session is recorded (a note, printed at
once; ``timestamps`` in ``GET /recordings``; a ``timestamps_*`` event in the file), not only by ``calibrate`` once the
subject has gone (audit s69record F1: such sessions were written without a word). Real LSL on loopback, a real pylsl
outlet, RecordOnly writing a real XDF file read back by pyxdf."""

from __future__ import annotations

import json
import time

import pylsl
import pyxdf

from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import RecordOnly
from support.common import TINY_CH_NAMES, test_signal, unique
from support.recorded import record_outlet

SFREQ = 250.0


def record(tmp_path, stamps_of) -> tuple[RecordOnly, list[dict]]:
    """12 s of samples pushed at once, stamped ``stamps_of(nominal schedule)``, recorded: the recorder, the file's
    service events."""
    name, n = unique("recstamps"), int(12 * SFREQ)
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src"), 10)
    path = tmp_path / "s.xdf"
    rec = record_outlet(path, name, outlet, test_signal(n, seed=4), stamps_of, SFREQ)
    streams = pyxdf.load_xdf(str(path), dejitter_timestamps=False, synchronize_clocks=False)[0]
    events = [json.loads(v[0]) for s in streams if s["info"]["type"][0] == "bci-stream-events"
              for v in s["time_series"]]
    return rec, events


def test_unix_time_stamps_are_said_while_recording(tmp_path):
    rec, events = record(tmp_path, lambda ts: ts + (time.time() - pylsl.local_clock()))
    said = [note for note in rec.notes if "does not stamp with LSL's local_clock()" in note]
    assert len(said) == 1 and said[0].startswith(f"stream {rec.name!r}: the stream's timestamps are "), rec.notes
    assert rec.stamps.describe()["clock_ahead_s"] > 1e9
    assert [e["event"] for e in events if e["event"].startswith("timestamps_")] == ["timestamps_clock_warning"]


def test_a_stream_sent_at_another_rate_than_it_declares_is_said(tmp_path):
    rec, events = record(tmp_path, lambda ts: ts[0] + (ts - ts[0]) / 0.8)  # declares 250 Hz, sends 200
    said = [note for note in rec.notes if "samples per second of its timestamps, not its nominal 250 Hz" in note]
    assert len(said) == 1, rec.notes
    assert abs(rec.stamps.describe()["sender_rate_hz"] - 200.0) < 1.0
    assert "timestamps_rate_warning" in [e["event"] for e in events]
    assert not [note for note in rec.notes if "local_clock()" in note]
