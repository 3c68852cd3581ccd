"""A recording (``POST /recordings``, ``bci-stream record``'s code) whose source comes back as a new outlet instance of
another shape (same source_id, another rate): the recording ends, the file holds every sample of the first instance,
and the note says what changed and to record the new one to a new file; audit s53cov: it said "Refusing to decode it
with the same state; start a new decoder", a decoder's advice, to someone recording with no decoder (the path was
never run by the suite). Real LSL on loopback, a real uvicorn server, the file read back."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pylsl

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.io.session import read_session
from support.common import TINY_CH_NAMES, test_signal, unique
from support.lsl import wait_for

SFREQ = 250.0


def record_all(client: httpx.Client, name: str, out: str, outlet: pylsl.StreamOutlet,
               x: np.ndarray) -> tuple[str, np.ndarray]:
    """A recording of stream ``name`` into ``out``; once it records, ``x`` pushed at :data:`SFREQ` and waited for
    in the file: its id and the stamps pushed."""
    r = client.post("/recordings", json={"stream": {"name": name}, "out": out})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_for(lambda: client.get(f"/recordings/{rid}").json()["state"] == "recording", 60.0, "state recording")
    ts = pylsl.local_clock() + np.arange(len(x)) / SFREQ
    outlet.push_chunk(x, ts.tolist())
    wait_for(lambda: client.get(f"/recordings/{rid}").json()["samples"] == len(x), 60.0, "every sample")
    return rid, ts


def test_a_source_back_with_another_rate_ends_the_recording_with_a_recordings_advice(tmp_path):
    settings = Settings(host="127.0.0.1", port=0, models_dir=tmp_path / "models", recordings_dir=tmp_path / "rec",
                        status_interval=0.1)
    name, n = unique("recshape"), 500
    sid = f"{name}-src"
    x = test_signal(n, seed=53)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        first = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), SFREQ, "float32", sid))
        rid, ts = record_all(client, name, "shape.xdf", first, x)
        del first  # the amplifier program ends, and starts again at another rate
        second = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), 2 * SFREQ, "float32", sid))
        zeros = np.zeros((10, len(TINY_CH_NAMES)), np.float32)

        def ended() -> dict | None:
            second.push_chunk(zeros)  # its samples go on while the recording decides
            st = client.get(f"/recordings/{rid}").json()
            return st if st["state"] not in ("searching", "recording") else None

        st = wait_for(ended, 60.0, "the recording to end")
        end = client.delete(f"/recordings/{rid}").json()
        del second
    assert st["state"] == "stopped" and st["samples"] == n, st  # its file finished: the first instance's samples
    (note,) = [m for m in end["notes"] if "came back with" in m]
    assert note == (f"stream {name!r} (source_id {sid!r}) came back with n_chans=8, sfreq=500, format=float32; it was "
                    "n_chans=8, sfreq=250, format=float32. Refusing to record it into the same file; record it to a "
                    "new file: the recording ends here"), note
    assert "decoder" not in note and "decode" not in note
    session = read_session(tmp_path / "rec" / "shape.xdf")
    np.testing.assert_array_equal(session.input_timestamps, ts)
    reconnects = [e for _, e in session.events if e["event"] == "reconnect"]
    assert len(reconnects) == 1 and reconnects[0]["uid"] is None and reconnects[0]["seq"] == n, reconnects
    assert reconnects[0]["error"] == note.removesuffix(": the recording ends here"), json.dumps(reconnects)


def test_a_source_without_source_id_that_goes_away_ends_the_recording_with_its_samples(tmp_path):
    """liblsl cannot recover a stream that has no source_id (most simple senders give none): the recording ends
    (``stopped``, README: "the stream lost for good: the file finished") with every sample sent, a note and a ``lost``
    event saying why (audit s53cov: never run by the suite)."""
    settings = Settings(host="127.0.0.1", port=0, models_dir=tmp_path / "models", recordings_dir=tmp_path / "rec",
                        status_interval=0.1)
    name, n = unique("reclost"), 500
    x = test_signal(n, seed=54)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), SFREQ, "float32", ""))
        rid, ts = record_all(client, name, "lost.xdf", outlet, x)
        del outlet
        st = wait_for(lambda: (s := client.get(f"/recordings/{rid}").json())["state"] not in ("searching", "recording")
                      and s, 60.0, "the recording to end")
    assert st["state"] == "stopped" and st["error"] is None and st["samples"] == n, st
    note = f"stream {name!r} was lost and cannot be recovered (it has no source_id): the recording ends here"
    assert note in st["notes"], st["notes"]
    session = read_session(tmp_path / "rec" / "lost.xdf")
    np.testing.assert_array_equal(session.input_timestamps, ts)
    np.testing.assert_array_equal(session.inputs.data.T, x.astype(np.float64))
    lost = [e for _, e in session.events if e["event"] == "lost"]
    assert len(lost) == 1 and lost[0]["message"] == note and lost[0]["seq"] == n, lost
