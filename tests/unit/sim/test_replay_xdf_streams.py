"""``bci-stream replay --stream/--marker-stream`` pick the signal and marker streams of an XDF file that holds several
(a LabRecorder file of two amplifiers and two marker streams), as calibrate and evaluate do. Without them such a
file is a usage error naming the option; an option the file's format does not take is refused naming it. Real
subprocess runs, real LSL on loopback (the replayed samples are those of the stream asked for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.common import SUBSET_S001_21CH, subset_file, unique
from support.xdf import write_xdf

EDF = SUBSET_S001_21CH / "S001R05.edf"


def _cli() -> str:
    return str(Path(sys.executable).with_name("bci-stream"))


@pytest.fixture(scope="module")
def lab_xdf(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pyxdf")
    from bci_stream.io import load_recording
    from bci_stream.io.recording import UNIT

    rec = load_recording(subset_file(EDF))
    n = int(20 * rec.sfreq)  # 20 s are enough
    data, events = rec.data[:, :n], [e for e in rec.events if e.onset < n]
    stamps = 100.0 + np.arange(n) / rec.sfreq
    path = write_xdf(tmp_path_factory.mktemp("xdf") / "lab.xdf", stamps,
                     [("amp-a", "EEG", rec.ch_names, rec.sfreq, data.T, UNIT),
                      ("amp-b", "EEG", rec.ch_names, rec.sfreq, data[::-1].T * 3.0, UNIT)],
                     [("cues", stamps[[e.onset for e in events]], [e.description for e in events]),
                      ("other", stamps[[10]], ["T1"])])
    return path, data, len(events)


def test_an_xdf_of_several_streams_needs_stream_and_the_error_names_the_option(lab_xdf) -> None:
    path, _, _ = lab_xdf
    proc = subprocess.run([_cli(), "replay", str(path), "--name", unique("rx")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "has 2 candidate streams" in proc.stderr, proc.stdout + proc.stderr
    assert "pass --stream NAME to choose one" in proc.stderr and "Traceback" not in proc.stderr
    assert "stream=<name>" not in proc.stderr  # a train config's keyword, not a flag (audit s67readme F3)
    proc = subprocess.run([_cli(), "replay", str(path), "--name", unique("rx"), "--stream", "amp-c"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--stream must name exactly one stream" in proc.stderr, proc.stdout + proc.stderr
    proc = subprocess.run([_cli(), "replay", str(subset_file(EDF)), "--name", unique("rx"), "--stream", "amp-a"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--stream applies to no file given: no file's format takes it" in proc.stderr


def test_replay_streams_the_signal_and_markers_asked_for(lab_xdf) -> None:
    import pylsl

    path, data, n_events = lab_xdf
    name = unique("rx")
    proc = subprocess.Popen([_cli(), "replay", str(path), "--name", name, "--stream", "amp-b", "--marker-stream",
                             "cues", "--wait-for-consumer", "60", "--speed", "4"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 60.0)
        assert found, "the replay's stream did not appear"
        inlet = pylsl.StreamInlet(found[0], max_buflen=60)
        got: list[np.ndarray] = []
        while sum(len(c) for c in got) < 64:
            chunk, _ = inlet.pull_chunk(timeout=5.0)
            assert chunk or proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            if chunk:
                got.append(np.asarray(chunk))
        first = np.concatenate(got)[:64]
        np.testing.assert_allclose(first, (data[::-1].T * 3.0)[:64], rtol=1e-5, atol=1e-3)  # amp-b, not amp-a
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert f"{n_events} events on '{name}-markers'" in out, out + err  # the cues, not the other stream's one


def test_an_xdf_whose_only_stream_has_no_rate_says_why_none_is_a_signal(tmp_path) -> None:
    """Its advice was 'pass --stream NAME to choose one', which then refused the stream it named for its rate of 0
    (audit s70sim F6): no stream is a signal, and the error says why."""
    pytest.importorskip("pyxdf")
    from bci_stream.core.errors import DataError
    from bci_stream.io import load_recording

    stamps = 10.0 + np.arange(500) / 250.0
    path = write_xdf(tmp_path / "norate.xdf", stamps, [("eeg", "EEG", ["C3", "C4"], 0.0, np.zeros((500, 2)), "uV")],
                     [("cues", stamps[[100]], ["T1"])])
    with pytest.raises(DataError) as err:
        load_recording(path)
    assert str(err.value) == ("norate.xdf holds no signal stream: one must be numeric with a nominal rate > 0 and not "
                              "one bci-stream adds (decoded, provenance, events); streams are 'eeg' (type 'EEG', "
                              "double64, 0 Hz), 'cues' (type 'Markers', string, 0 Hz)"), err.value
