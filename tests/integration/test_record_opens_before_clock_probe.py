"""``bci-stream record`` opens the EEG stream's data connection before it measures the clock offset.

liblsl queues an inlet's samples only from ``open_stream`` on. The recorder measured the stream's clock offset (and
the source monitor's) first: 0.6 s on an idle host, 2-4 s with a few players starting at once, during which the
stream's samples were never received. A recorder started before the amplifier (``bci-stream record ... &`` and then
the amplifier app, or mne-lsl's PlayerLSL) lost the stream's first 2.25-4.25 s: 360-680 samples of each EEGMMIDB
run played at 160 Hz, and with R13 its first cue (T1 at 4.2 s), received by the marker inlet but 8 samples before the
first EEG sample in the file, so calibrate and evaluate lost that trial. Here the probe is made slow (a loaded host)
and the sender pushes its first second meanwhile: every sample must be in the file, from the first.
"""

from __future__ import annotations

import threading

import numpy as np
import pylsl

import bci_stream.lsl.source as source
from bci_stream.io import load_recording
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import RecordOnly
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import wait_for


def test_samples_sent_while_the_clock_offset_is_measured_are_recorded(tmp_path, monkeypatch):
    name, n, first = unique("early"), int(3 * TINY_SFREQ), int(TINY_SFREQ)
    x = test_signal(n, seed=11)
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src"), 10)
    probing, pushed = threading.Event(), threading.Event()
    real = source.time_correction_ex

    def slow_probe(inlet: pylsl.StreamInlet, timeout: float):
        """The first clock probe answered only once the sender pushed its first second (a loaded host)."""
        if not pushed.is_set():
            probing.set()
            pushed.wait(30.0)
        return real(inlet, timeout)

    monkeypatch.setattr(source, "time_correction_ex", slow_probe)
    stamps = pylsl.local_clock() + np.arange(n) / TINY_SFREQ

    def send() -> None:
        probing.wait(30.0)
        for i in range(0, first, 10):  # the first second, while the recorder measures the clock offset
            outlet.push_chunk(x[i:i + 10], stamps[i:i + 10].tolist())
        pushed.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    rec, stop, out = RecordOnly(tmp_path / "e.xdf", name), threading.Event(), {}
    rec.open()
    assert pushed.is_set()  # the sender's first second went out while open() waited for the clock offset
    outlet.push_chunk(x[first:], stamps[first:].tolist())
    thread = threading.Thread(target=lambda: out.update(totals=rec.run(stop)), daemon=True)
    thread.start()
    try:
        wait_for(lambda: rec.counters.samples_in >= n, 30.0, "every sample in the recorder")
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    assert (totals.samples, totals.lost) == (n, 0)
    got = load_recording(tmp_path / "e.xdf")
    np.testing.assert_array_equal(got.data, x.T.astype(np.float64))  # from the first sample sent, in order
