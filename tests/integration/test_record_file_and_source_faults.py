"""`bci-stream record` when its file or its source misbehaves: the file removed while it is written (the recording
goes on in a new file at that path; what went with the old one, its samples, markers and span, is counted and said:
audit s67rec F5, F6), the file made by someone else while the stream is looked for (refused naming the command's
option: F8), and the stream back in another shape (the recording ends saying so: F10). Real LSL on loopback, real
files read back by pyxdf."""

from __future__ import annotations

import threading
import time

import numpy as np
import pylsl

from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import RecordOnly
from bci_stream.service.record_summary import summary
from integration.test_record_select_events import events_of, xdf_streams
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import wait_for

N_HALF = 200


def _in_file(path, samples: int, markers: int) -> bool:
    """Whether the file at ``path`` holds ``samples`` input samples and ``markers`` markers yet."""
    try:
        streams = xdf_streams(path)
    except Exception:  # noqa: BLE001 - not written yet
        return False
    got = {s["info"]["type"][0]: len(s["time_stamps"]) for s in streams}
    return got.get("EEG", 0) >= samples and got.get("Markers", 0) >= markers


def test_a_removed_file_counts_its_markers_and_span_and_the_summary_says_what_the_new_file_holds(tmp_path) -> None:
    name = unique("rec-removed")
    eeg = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src"))
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, 0.0, "string", f"{name}-cues"))
    x = test_signal(2 * N_HALF, seed=4)
    stamps = pylsl.local_clock() + np.arange(len(x)) / TINY_SFREQ
    out = tmp_path / "r.xdf"
    rec, stop, got = RecordOnly(out, name), threading.Event(), {}
    rec.open()
    thread = threading.Thread(target=lambda: got.update(totals=rec.run(stop)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: eeg.have_consumers() and cues.have_consumers(), 10.0, "the recorder's inlets")
        for half, values in ((0, ["a", "b", "a"]), (1, ["b", "a"])):
            lo = half * N_HALF
            eeg.push_chunk(x[lo:lo + N_HALF], stamps[lo:lo + N_HALF].tolist())
            for k, value in enumerate(values):
                cues.push_sample([value], float(stamps[lo + 10 * (k + 1)]))
            if half == 0:
                wait_for(lambda: _in_file(out, N_HALF, 3), 30.0, "the first half and its 3 markers in the file")
                out.unlink()
        wait_for(lambda: rec.counters.samples_in >= 2 * N_HALF and rec.hub.received >= 5, 30.0, "every sample")
        time.sleep(1.0)  # the second half written to the new file
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    assert (totals.samples, totals.unrecorded, totals.markers, totals.unrecorded_markers) == (400, 200, 5, 3)
    (hole,) = [e for _, e in events_of(out) if e["event"] == "unrecorded"]
    assert (hole["samples"], hole["markers"]) == (200, 3), hole
    assert (hole["first_timestamp"], hole["last_timestamp"]) == (float(stamps[0]), float(stamps[N_HALF - 1])), hole
    mk = [s for s in xdf_streams(out) if s["info"]["type"][0] == "Markers"]
    assert [v[0] for v in mk[0]["time_series"]] == ["b", "a"]
    said = summary(rec, totals)
    assert said[0].startswith(f"recorded {out}: 200 samples of '{name}' (") and ", 2 markers from" in said[0], said
    assert said[1].startswith("markers received (3 not in the file): 'a' x3, 'b' x2"), said


def test_a_file_made_while_the_stream_is_looked_for_is_refused_naming_the_callers_option(tmp_path) -> None:
    """Another recorder (or anyone) makes the file while this one looks for its stream: refused, nothing overwritten,
    and named as the command names it (``--out``; a recording's ``out``), not as the decoder option ``record_path``
    neither has (audit s67rec F8)."""
    name, out = unique("rec-race"), tmp_path / "same.xdf"
    rec, said = RecordOnly(out, name, resolve_timeout=30.0), {}

    def opening() -> None:
        try:
            rec.open()
        except FileExistsError as exc:
            said["error"] = str(exc)

    opener = threading.Thread(target=opening, daemon=True)
    opener.start()
    time.sleep(0.5)  # it looks for the stream now (the file was not there when it began)
    out.write_bytes(b"another recording")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src"))
    opener.join(40.0)
    rec.close()
    assert said.get("error") == (f"--out must not exist (recordings are never overwritten), got {out}: it exists "
                                 "(made since the recording was asked for?); choose a new file name"), said
    assert out.read_bytes() == b"another recording"
    del outlet


def test_a_stream_back_in_another_shape_ends_the_recording_saying_so(tmp_path) -> None:
    """The stream gone, then back under its name and source_id with 6 channels instead of 4: liblsl's recovering
    inlet delivers none of its samples, so the recording looked silent for good ("lost 0", no note; audit s67rec F10).
    Now the stalled recording looks for its source and ends saying what came back."""
    name, out = unique("rec-reshape"), tmp_path / "reshape.xdf"

    def outlet(n_chans: int) -> pylsl.StreamOutlet:
        return pylsl.StreamOutlet(make_stream_info(name, "EEG", [f"C{i}" for i in range(n_chans)], TINY_SFREQ,
                                                   f"{name}-src"))

    eeg = outlet(4)
    rec, stop, got = RecordOnly(out, name), threading.Event(), {}
    rec.open()
    thread = threading.Thread(target=lambda: got.update(totals=rec.run(stop, duration=60.0)), daemon=True)
    thread.start()
    try:
        wait_for(eeg.have_consumers, 10.0, "the recorder's inlet")
        eeg.push_chunk(test_signal(200, seed=5)[:, :4], (pylsl.local_clock() + np.arange(200) / TINY_SFREQ).tolist())
        wait_for(lambda: rec.counters.samples_in >= 200, 30.0, "the first 200 samples")
        del eeg
        wait_for(lambda: rec.stalled, 30.0, "the stall")
        eeg = outlet(6)
        thread.join(45.0)  # the recording ends by itself, well before its 60 s
        assert not thread.is_alive(), "the recording went on after its stream came back in another shape"
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    assert totals.samples == 200
    assert any("came back with n_chans=6" in n and n.endswith("the recording ends here") for n in rec.notes), rec.notes
    assert [e["error"] for _, e in events_of(out) if e["event"] == "reconnect"][0].startswith(
        f"stream '{name}' (source_id '{name}-src') came back with n_chans=6")
