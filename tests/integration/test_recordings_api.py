"""``/recordings``: ``bci-stream record`` through the control plane. A stream and its marker stream recorded with no
model by the API process, stopped by DELETE (the file read back sample for sample, markers on their samples), a
recording that ends at its ``duration_s``, the service's shutdown finishing a running recording's file, a stream not
found (the CLI's message), one stopped while searching, and the refusals (422 naming the field, 404, 401; two starts
of one file at once). A running recording is in ``GET /status`` and ``/metrics`` until its DELETE; its messages name
the request's fields where ``bci-stream record``'s name its flags.

Real LSL on loopback (pylsl outlets of the test's own, unique names), a real uvicorn server on 127.0.0.1, real files.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pylsl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.core.spec import StreamSelector
from bci_stream.io.session import read_session
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import FLAGS, RecordOnly, refuse_existing
from bci_stream.service.recordings import REQUEST_FIELDS, Recordings
from support.common import TINY_CH_NAMES, test_signal, unique
from support.lsl import paced_source, wait_for

TOKEN = "recordings-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SFREQ = 250.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the file: ``(server, client, recordings_dir)``."""
    root = tmp_path_factory.mktemp("recordings-api")
    settings = Settings(host="127.0.0.1", port=0, models_dir=root / "models", recordings_dir=root / "rec",
                        status_interval=0.1, token=TOKEN)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0, headers=AUTH) as client:
        yield srv, client, root / "rec"


def status(client: httpx.Client, recording_id: str) -> dict:
    r = client.get(f"/recordings/{recording_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_recording_started_and_stopped_over_http_holds_every_sample_in_order_with_its_markers(server):
    _, client, rec_dir = server
    name, n = unique("recapi"), 2500
    x = test_signal(n, seed=4)
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src", unit="uV"), 10)
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-stim", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-stim-src"))
    r = client.post("/recordings", json={"stream": {"name": name, "type": "EEG"}, "out": "s01/run1.xdf",
                                         "options": {"markers": {"stream": {"name": f"{name}-stim"}}}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.headers["location"] == f"/recordings/{rid}"
    assert r.json()["state"] in ("searching", "recording") and r.json()["out"] == "s01/run1.xdf"
    wait_for(lambda: status(client, rid)["state"] == "recording", 60.0, "state recording")
    wait_for(lambda: outlet.have_consumers() and cues.have_consumers(), 30.0, "the recording's two inlets")
    ts = pylsl.local_clock() + np.arange(n) / SFREQ
    marked = {200: "left", 1500: "right"}
    for i in range(0, n, 50):
        outlet.push_chunk(x[i:i + 50], ts[i:i + 50].tolist())
        for k in [k for k in marked if i <= k < i + 50]:
            cues.push_sample([marked[k]], float(ts[k]))
    st = wait_for(lambda: (s := status(client, rid))["samples"] >= n and s["markers"] >= 2 and s, 60.0,
                  "every sample and marker")
    assert (st["stream_name"], st["sfreq"], st["marker_stream_name"], st["marker_state"]) == (
        name, SFREQ, f"{name}-stim", "connected")
    assert [s["id"] for s in client.get("/recordings").json()] == [rid]

    done = client.delete(f"/recordings/{rid}")
    assert done.status_code == 200, done.text
    end = done.json()
    path = rec_dir / "s01" / "run1.xdf"
    assert (end["state"], end["error"], end["path"]) == ("stopped", None, str(path))
    assert (end["samples"], end["markers"], end["lost_samples"], end["marker_counts"],
            end["unlisted_marker_values"]) == (n, 2, 0, {"left": 1, "right": 1}, 0)
    assert end["summary"][:2] == [  # the lines bci-stream record prints at the end
        f"recorded {path}: {n} samples of '{name}' (10.0 s at 250 Hz), 2 markers from '{name}-stim'; lost 0 samples "
        "in the timestamps", "markers: 'left' x1, 'right' x1"]
    assert client.get(f"/recordings/{rid}").status_code == 404  # stopped: gone from the table
    assert client.delete(f"/recordings/{rid}").status_code == 404

    session = read_session(path)
    assert not session.decoded and session.inputs.ch_names == TINY_CH_NAMES
    np.testing.assert_array_equal(session.inputs.data, x.T.astype(np.float32).astype(np.float64))  # all, in order
    np.testing.assert_array_equal(session.input_timestamps, ts)
    assert session.markers == [(ts[200], "left"), (ts[1500], "right")]
    assert [e["event"] for _, e in session.events][-1] == "stopped"
    # its own path is refused now that the file exists (never overwritten)
    exists = client.post("/recordings", json={"stream": {"name": name}, "out": "s01/run1.xdf"})
    assert exists.status_code == 422 and exists.json()["detail"][0]["loc"] == ["body", "out"]
    assert "out must not exist (recordings are never overwritten)" in exists.json()["detail"][0]["msg"]


def test_a_stream_not_found_ends_in_error_with_the_cli_message_and_one_searching_is_stopped(server):
    _, client, rec_dir = server
    missing = unique("nosuch")
    r = client.post("/recordings", json={"stream": {"name": missing}, "out": "searching.xdf",
                                         "options": {"resolve_timeout": 600}})
    assert r.status_code == 201, r.text
    # the same file again while a recording is to write it (not created yet): refused before anything starts
    again = client.post("/recordings", json={"stream": {"name": missing}, "out": "searching.xdf"})
    assert again.status_code == 422 and again.json()["detail"][0]["loc"] == ["body", "out"], again.text
    assert f"recording {r.json()['id']!r} writes it" in again.json()["detail"][0]["msg"]
    time.sleep(2.5)  # over the 2 s a stall needs: no sample is expected yet, so none is overdue
    assert r.json()["stalled_s"] == status(client, r.json()["id"])["stalled_s"] == 0  # was the host's uptime
    assert recording_samples(client, r.json()["id"]).get(("bci_stream_recording_stalled_seconds", ""), 0) == 0
    stopped = client.delete(f"/recordings/{r.json()['id']}").json()
    assert (stopped["state"], stopped["path"], stopped["summary"]) == (
        "stopped", None, [f"stopped while looking for stream '{missing}': nothing recorded"])

    r = client.post("/recordings", json={"stream": {"name": missing}, "out": "missing.xdf",
                                         "options": {"resolve_timeout": 0.5}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    st = wait_for(lambda: (s := status(client, rid))["state"] == "error" and s, 60.0, "state error")
    assert st["error"].startswith(f"no LSL stream matched name='{missing}' within 0.5 s; visible streams (")
    assert (st["samples"], st["path"], st["stream_name"], st["stalled_s"]) == (0, None, None, 0)
    assert not (rec_dir / "missing.xdf").exists()
    assert client.delete(f"/recordings/{rid}").json()["state"] == "error"  # an ended one: its status, then gone


def recording_samples(client: httpx.Client, recording_id: str) -> dict[tuple[str, str], float]:
    """``/metrics``' samples of one recording, by (sample name, state label or "")."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {(s.name, s.labels.get("state", "")): s.value for f in families for s in f.samples
            if s.labels.get("recording_id") == recording_id}


def test_status_and_metrics_list_a_running_recording_until_its_delete_and_its_messages_name_the_fields(server):
    """A stream that declares no unit, of a name two outlets share, no marker stream: its notes and summary say what to
    change by the request's fields (``input_unit``, ``stream.source_id``..., ``options.markers.stream``)."""
    _, client, rec_dir = server
    name, n = unique("recstat"), 500
    x = test_signal(n, seed=8)
    outlets = [pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), SFREQ, "float32", f"{name}-{k}"))
               for k in "ab"]
    r = client.post("/recordings", json={"stream": {"name": name}, "out": "status.xdf"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    wait_for(lambda: status(client, rid)["state"] == "recording", 60.0, "state recording")
    ts = pylsl.local_clock() + np.arange(n) / SFREQ
    for outlet in outlets:  # the one recorded is the first found
        outlet.push_chunk(x, ts.tolist())
    wait_for(lambda: status(client, rid)["samples"] >= n, 60.0, "every sample")

    listed = client.get("/status").json()
    mine = [s for s in listed["recordings"] if s["id"] == rid]
    assert listed["n_recordings"] == len(listed["recordings"]) and len(mine) == 1
    assert set(mine[0]) == set(status(client, rid))  # the same RecordingStatus as GET /recordings/{id}
    assert (mine[0]["state"], mine[0]["stream_name"], mine[0]["samples"], mine[0]["markers"],
            mine[0]["lost_samples"], mine[0]["out"]) == ("recording", name, n, 0, 0, "status.xdf")
    samples = recording_samples(client, rid)
    assert {k: v for k, v in samples.items() if k[0] == "bci_stream_recording_state"} == {
        ("bci_stream_recording_state", st): float(st == "recording")
        for st in ("searching", "recording", "stopped", "error")}
    assert {k[0]: v for k, v in samples.items() if k[0] != "bci_stream_recording_state"} == {
        "bci_stream_recording_samples_total": n, "bci_stream_recording_markers_total": 0,
        "bci_stream_recording_lost_samples_total": 0, "bci_stream_recording_gaps_total": 0,
        "bci_stream_recording_backward_steps_total": 0, "bci_stream_recording_unrecorded_samples_total": 0,
        "bci_stream_recording_unrecorded_markers_total": 0, "bci_stream_recording_write_failing": 0,
        "bci_stream_recording_stalled_seconds": samples[("bci_stream_recording_stalled_seconds", "")]}
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    assert families["bci_stream_recording_samples"].type == "counter"
    assert families["bci_stream_recording_samples"].documentation == (
        "Samples of the EEG stream received: written to the recording's file, but for "
        "bci_stream_recording_unrecorded_samples")
    assert {s.labels["stream"] for s in families["bci_stream_recording_state"].samples
            if s.labels["recording_id"] == rid} == {name}

    end = client.delete(f"/recordings/{rid}").json()
    assert (end["state"], end["samples"]) == ("stopped", n)
    assert rid not in [s["id"] for s in client.get("/status").json()["recordings"]]
    assert recording_samples(client, rid) == {}  # gone from the exposition with its DELETE
    assert end["notes"][0] == (f"stream '{name}' declares no channel unit: recorded as 'uV' (input_unit); calibrate "
                               "reads the file in that unit")
    assert any(note.startswith(f"2 streams match name='{name}': recording the first found") and note.endswith(
        "(choose with stream.source_id, stream.hostname or stream.type)") for note in end["notes"]), end["notes"]
    assert end["summary"][-2].startswith("warning: no marker was recorded: calibrate needs the cues (is the "
                                         "stimulus program's marker stream ")
    assert end["summary"][-2].endswith("? name it with options.markers.stream)"), end["summary"]
    said = end["notes"] + end["summary"]
    assert not [m for m in said for flag in FLAGS.values() if flag in m], said  # calibrate's --labels: not a flag here
    assert (rec_dir / "status.xdf").exists()


def test_an_error_over_http_names_the_request_field_and_the_cli_its_flag(server, tmp_path):
    """A marker stream given as the EEG stream: ``error`` names ``stream`` and ``options.markers.stream`` (the CLI:
    ``--stream``, ``--marker-stream``). The other messages of one mechanism, with either mapping, without a stream."""
    _, client, rec_dir = server
    cues = unique("reccues")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(cues, "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{cues}-src"))
    r = client.post("/recordings", json={"stream": {"name": cues}, "out": "cues.xdf"})
    assert r.status_code == 201, r.text
    st = wait_for(lambda: (s := status(client, r.json()["id"]))["state"] == "error" and s, 60.0, "state error")
    assert st["error"] == (f"stream '{cues}' has channel format string: not EEG samples (a marker stream? its cues are "
                           "recorded beside the EEG stream: stream names the EEG, options.markers.stream the markers)")
    assert st["path"] is None and not (rec_dir / "cues.xdf").exists()
    assert client.delete(f"/recordings/{r.json()['id']}").status_code == 200
    del outlet

    (tmp_path / "a.xdf").write_bytes(b"")
    for names, out, unit in ((REQUEST_FIELDS, "out", "input_unit"), (FLAGS, "--out", "--input-unit")):
        with pytest.raises(FileExistsError, match=f"^{out} must not exist .recordings are never overwritten."):
            refuse_existing(tmp_path / "a.xdf", names)
        with pytest.raises(ValueError, match=f"^{unit} must be a voltage unit .* got 'furlongs'$"):
            RecordOnly(tmp_path / "b.xdf", "x", input_unit="furlongs", names=names)
        for bad in ("0 uV", "-2 uV", "inf uV"):  # a voltage unit, with a number that is not one (audit s62interop F1)
            with pytest.raises(ValueError, match=f"^{unit} must give a positive, finite number of uV per stream unit "
                                                 rf"\(got (0|-2|inf)\); got '{bad}'$"):
                RecordOnly(tmp_path / "b.xdf", "x", input_unit=bad, names=names)
    assert set(REQUEST_FIELDS) == set(FLAGS)


def test_malformed_requests_unknown_ids_and_a_missing_token_are_refused(server):
    srv, client, _ = server

    def refused(body: dict) -> list:
        r = client.post("/recordings", json=body)
        assert r.status_code == 422, (body, r.text)
        return r.json()["detail"][0]["loc"]

    ok = {"stream": {"name": "x"}, "out": "a.xdf"}
    assert refused({"out": "a.xdf"}) == ["body", "stream"]
    assert refused({"stream": {}, "out": "a.xdf"}) == ["body", "stream"]
    assert refused({"stream": {"name": "x"}}) == ["body", "out"]
    for out in ("../a.xdf", "/tmp/a.xdf", "a b.xdf", "s/./a.xdf", "run4.txt"):
        assert refused({**ok, "out": out}) == ["body", "out"], out
    assert refused({**ok, "input_unit": "furlongs"}) == ["body", "input_unit"]
    assert refused({**ok, "duration_s": 0}) == ["body", "duration_s"]
    assert refused({**ok, "options": {"resolve_timeout": -1}}) == ["body", "options", "resolve_timeout"]
    assert refused({**ok, "options": {"markers": {"stream": {"nme": "x"}}}})[:4] == [
        "body", "options", "markers", "stream"]
    assert refused({**ok, "model": "tiny-gru"}) == ["body", "model"]  # extra fields are refused
    msg = client.post("/recordings", json={**ok, "out": "../a.xdf"}).json()["detail"][0]["msg"]
    assert "out must stay inside recordings_dir" in msg and "'../a.xdf'" in msg
    for method in ("GET", "DELETE"):
        r = client.request(method, "/recordings/nosuchid")
        assert r.status_code == 404 and r.json()["detail"] == "recording 'nosuchid' not found"
    assert httpx.get(f"{srv.url}/recordings").status_code == 401
    assert httpx.post(f"{srv.url}/recordings", json=ok).status_code == 401


def test_duration_ends_a_recording_and_shutdown_finishes_a_running_ones_file(tmp_path):
    """A server of its own (the file's other tests share one): its shutdown is what is tested."""
    name = unique("recapi-end")
    outlet, pusher = paced_source(name, 120.0, seed=6)
    settings = Settings(host="127.0.0.1", port=0, models_dir=tmp_path / "models", recordings_dir=tmp_path / "rec")
    srv = BackgroundServer(settings).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60.0) as client:
            timed = client.post("/recordings", json={"stream": {"name": name}, "out": "timed.xdf", "duration_s": 1})
            kept = client.post("/recordings", json={"stream": {"source_id": f"{name}-src"}, "out": "kept.xdf"})
            assert timed.status_code == kept.status_code == 201, (timed.text, kept.text)
            end = wait_for(lambda: (s := status(client, timed.json()["id"]))["state"] == "stopped" and s, 60.0,
                           "the timed recording's end")
            assert end["samples"] > 0 and end["summary"][0].startswith(f"recorded {tmp_path / 'rec' / 'timed.xdf'}")
            assert [s["id"] for s in client.get("/recordings").json()] == [timed.json()["id"], kept.json()["id"]]
            wait_for(lambda: status(client, kept.json()["id"])["samples"] > 0, 60.0, "samples in kept.xdf")
            time.sleep(2.5)  # an ended recording is not stalled: its stalled_s stays (it grew with the time since)
            assert status(client, timed.json()["id"])["stalled_s"] == end["stalled_s"] == 0
    finally:
        srv.stop()
        pusher.halt.set()
    session = read_session(tmp_path / "rec" / "kept.xdf")  # finished by the shutdown: its footer event is there
    assert session.inputs.n_times > 0 and [e["event"] for _, e in session.events][-1] == "stopped"
    assert read_session(tmp_path / "rec" / "timed.xdf").inputs.n_times == end["samples"]


def test_two_starts_of_one_file_at_once_the_second_is_refused_and_none_after_shutdown(tmp_path):
    """The manager itself (no server): two requests that both passed the HTTP check (the file not there yet) race to
    ``start``; the second is refused (the router answers 422 naming ``body.out``). No LSL stream is found."""
    recordings, missing = Recordings(str(tmp_path)), StreamSelector(name=unique("nosuch"))
    first = recordings.start("a.xdf", missing, None, "uV", None, 600.0)
    try:
        with pytest.raises(ValueError, match=f"out must not be a running recording's file, got 'a.xdf': recording "
                                             f"'{first.id}' writes it"):
            recordings.start("a.xdf", missing, None, "uV", None, 600.0)
        assert [r.id for r in recordings.list()] == [first.id]
    finally:
        recordings.shutdown()
    assert first.state == "stopped" and not first.thread.is_alive()
    with pytest.raises(RuntimeError, match="shutting down"):
        recordings.start("b.xdf", missing, None, "uV", None, 600.0)


def test_a_recording_whose_disk_fills_up_says_so_while_it_runs_and_ends_in_error(tmp_path):
    """Found by a storage audit: while the disk was full, ``GET /recordings/{id}`` said ``recording``, no error, and
    nothing counted what was not written; the DELETE's error named no file. Now ``write_error`` names the file and
    the cause while it lasts, ``unrecorded_samples`` counts what never reached it, and the recording ends in
    ``error`` saying so (as ``bci-stream record`` exits 1)."""
    from support.small_disk import fill, small_disk

    name = unique("recapi-full")
    outlet, pusher = paced_source(name, 60.0, seed=7)
    with small_disk(tmp_path / "small", "1m") as disk:
        settings = Settings(host="127.0.0.1", port=0, models_dir=tmp_path / "models", recordings_dir=disk,
                            status_interval=0.1)
        srv = BackgroundServer(settings).start()
        try:
            with httpx.Client(base_url=srv.url, timeout=60.0) as client:
                r = client.post("/recordings", json={"stream": {"name": name}, "out": "full.xdf"})
                assert r.status_code == 201, r.text
                rid = r.json()["id"]
                wait_for(lambda: status(client, rid)["samples"] > 200, 60.0, "samples in full.xdf")
                filler = fill(disk)
                cannot = f"recorder cannot write {disk / 'full.xdf'}: [Errno 28] No space left on device"
                st = wait_for(lambda: (s := status(client, rid))["unrecorded_samples"] > 100 and s, 60.0,
                              "samples not written, counted")
                assert (st["state"], st["write_error"]) == ("recording", cannot)
                metrics = recording_samples(client, rid)  # and on /metrics (audit s69record F2: looked healthy there)
                assert metrics[("bci_stream_recording_write_failing", "")] == 1.0
                assert metrics[("bci_stream_recording_unrecorded_samples_total", "")] > 0
                end = client.delete(f"/recordings/{rid}").json()
                filler.unlink()
        finally:
            srv.stop()
            pusher.halt.set()
    assert end["state"] == "error" and end["unrecorded_samples"] >= st["unrecorded_samples"]
    assert end["error"] in (cannot, f"{end['unrecorded_samples']} of the {end['samples']} samples received and 0 "
                            f"markers were not written to the file ({cannot}); its events stream says where "
                            "('unrecorded' events)")
