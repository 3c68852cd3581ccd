"""``bci-stream record`` of a stimulus program that sends "trigger off" 0s: each cue code (1, 2) on an int32 marker
outlet is followed by a 0 50 ms later. The file keeps every code as its text, ``"0"`` included (so ``--labels
0=rest,...`` finds a class coded 0), and its marker stream's header says the source was a one-channel numeric
stream without a rate; so calibrate and evaluate read it as the live decoder reads that stream: the 0s are no
events unless the label map names ``"0"``. They get the same trials and per-sample labels as from the same session
without the 0s. Before, every ``"0"`` was an event: it ended each cue's label span in evaluate 50 ms after the cue.

Real LSL on loopback (a float32 EEG outlet and an int32 marker outlet of the test's own), the real
:class:`~bci_stream.service.record_only.RecordOnly`, real files.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.io import Event, load_recording
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import RecordOnly
from bci_stream.train.classical.calibration_inputs import load_calibration
from bci_stream.train.evaluate.inputs import load_for_model
from support.common import unique
from support.lsl import wait_for
from support.xdf import write_xdf

pytestmark = [pytest.mark.timeout(180)]

SFREQ, CH = 160.0, ["C3", "Cz", "C4"]
N = int(40 * SFREQ)
CUES = [(int((1.0 + 3.0 * k) * SFREQ), 1 + k % 2) for k in range(12)]  # (sample, code): a cue every 3 s
OFF = int(0.05 * SFREQ)  # the 0 follows each cue by 50 ms: 8 samples
LABELS = {"1": "left", "2": "right"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The session recorded by RecordOnly (cues and 0s), and the same samples and cues written without the 0s."""
    root = tmp_path_factory.mktemp("trigger-off")
    name = unique("s22xdfunits")
    x = (20.0 * np.random.default_rng(5).standard_normal((N, len(CH)))).astype(np.float32)
    eeg = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, "int32",
                                               f"{name}-markers-src"))
    out = root / "session.xdf"
    rec, stop, got = RecordOnly(out, name), threading.Event(), {}
    rec.open()
    thread = threading.Thread(target=lambda: got.update(totals=rec.run(stop)), daemon=True)
    thread.start()
    ts = np.zeros(0)
    try:
        wait_for(lambda: eeg.have_consumers() and cues.have_consumers(), 20.0, "the recorder's inlets")
        ts = pylsl.local_clock() + np.arange(N) / SFREQ
        pushes = sorted([(k, [code]) for k, code in CUES] + [(k + OFF, [0]) for k, _ in CUES])
        for i in range(0, N, 320):
            time.sleep(320 / SFREQ / 10)  # 10x real time
            eeg.push_chunk(x[i:i + 320], ts[i:i + 320].tolist())
            for k, value in [p for p in pushes if i <= p[0] < i + 320]:
                cues.push_sample(value, float(ts[k]))
        wait_for(lambda: rec.counters.samples_in >= N and rec.hub.received >= 2 * len(CUES), 90.0,
                 "every sample and marker")
    finally:
        stop.set()
        thread.join(15.0)
        rec.close()
        del eeg, cues
    ref = write_xdf(root / "without_zeros.xdf", ts, [("amp", "EEG", CH, SFREQ, x.astype(np.float64), "microvolts")],
                    [("cues", [float(ts[k]) for k, _ in CUES], [str(code) for _, code in CUES])])
    return out, ref


def test_the_file_keeps_every_code_and_says_its_source(files: tuple[Path, Path]) -> None:
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(files[0]))
    mk = next(s for s in streams if s["info"]["type"] == ["Markers"])
    assert [v[0] for v in mk["time_series"]] == [v for _, c in CUES for v in (str(c), "0")]
    source = mk["info"]["desc"][0]["marker_stream"][0]
    assert source["channel_count"] == ["1"] and source["channel_format"][0] not in ("", "string")


def test_calibrate_and_evaluate_read_it_as_without_the_zeros(files: tuple[Path, Path]) -> None:
    out, ref = files
    rec = load_recording(out, cues=LABELS)
    assert rec.events == [Event(k, 0, str(code)) for k, code in CUES]
    assert rec.events == load_recording(ref, cues=LABELS).events
    cal, cal_ref = (load_calibration([p], LABELS) for p in (out, ref))
    got, want = cal.runs[0].trials, cal_ref.runs[0].trials
    np.testing.assert_array_equal(got.onsets, want.onsets)
    np.testing.assert_array_equal(got.classes, want.classes)
    ev, ev_ref = (load_for_model(p, LABELS, CH) for p in (out, ref))
    np.testing.assert_array_equal(ev.labels, ev_ref.labels)
    first, second = CUES[0][0], CUES[1][0]
    assert (ev.labels[first:second - 1] == 0).all()  # the first cue labels until the next cue, not for 50 ms


def test_with_a_class_coded_0_the_zeros_are_events(files: tuple[Path, Path]) -> None:
    with_zero = {"0": "rest", **LABELS}
    events = load_recording(files[0], cues=with_zero).events
    assert events == sorted([Event(k, 0, str(code)) for k, code in CUES] + [Event(k + OFF, 0, "0") for k, _ in CUES],
                            key=lambda e: e.onset)
    cal = load_calibration([files[0]], with_zero)
    assert sorted(cal.labels) == ["left", "rest", "right"]
    assert len(cal.runs[0].trials.onsets) == 2 * len(CUES)
