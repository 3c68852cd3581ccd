"""POST /decoders with an ``options.record_path`` that already exists is refused at once with 422 naming the field,
the rule and the path (it answered 201 and the decoder then went to ``error``, leaving a client that waits for
``running`` waiting); the worker's own check stays for a file created between the POST and the worker's start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.service.record_paths import record_path_refusal
from support.common import unique


@pytest.fixture(scope="module")
def rec_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    rec = tmp_path_factory.mktemp("recordings")
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, recordings_dir=rec)
    with BackgroundServer(settings) as srv:
        yield srv, rec


def test_an_existing_record_path_is_refused_at_post(rec_server):
    srv, rec = rec_server
    (rec / "day1").mkdir()
    (rec / "day1" / "s01.xdf").write_bytes(b"an earlier session")
    body = {"stream": {"name": unique("s15rf-rec")}, "model": "tiny-gru", "options": {"record_path": "day1/s01.xdf"}}
    with httpx.Client(base_url=srv.url, timeout=30.0) as client:
        r = client.post("/decoders", json=body)
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "options", "record_path"]
        assert "must not exist" in detail["msg"] and "never overwritten" in detail["msg"]
        assert str(rec / "day1" / "s01.xdf") in detail["msg"] and "'day1/s01.xdf'" in detail["msg"]
        assert client.get("/decoders").json() == []  # nothing was started
        assert (rec / "day1" / "s01.xdf").read_bytes() == b"an earlier session"


def test_record_path_refusal(tmp_path: Path):
    assert record_path_refusal(str(tmp_path / "not-yet"), None) is None
    assert record_path_refusal(str(tmp_path / "not-yet"), "a.xdf") is None  # created when first needed
    assert record_path_refusal(None, "a.xdf") == "record_path was given but the service has no recordings_dir"


def test_a_file_another_decoder_or_recording_is_to_write_is_refused_at_post(rec_server):
    """Decoder A (still waiting for its stream) claims day2/s01.xdf: a recording or decoder B asking for the same file
    gets 422 naming A (before: 201, the recording took the file and A went to error having decoded nothing); A
    stopped, a recording may take it, and then a decoder may not."""
    srv, rec = rec_server
    body = {"stream": {"name": unique("s15rf-claim")}, "model": "tiny-gru", "options": {"record_path": "day2/s01.xdf"}}
    with httpx.Client(base_url=srv.url, timeout=30.0) as client:
        a = client.post("/decoders", json=body)
        assert a.status_code == 201, a.text
        a_id = a.json()["id"]
        r = client.post("/recordings", json={"stream": body["stream"], "out": "day2/s01.xdf"})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "out"]
        assert detail["msg"].startswith(f"out must not be a file a decoder records to, got 'day2/s01.xdf': decoder "
                                        f"{a_id!r} (state ")
        r = client.post("/decoders", json=body)
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "options", "record_path"] and f"decoder {a_id!r}" in detail["msg"]
        assert [d["id"] for d in client.get("/decoders").json()] == [a_id]  # B was not started
        assert client.delete(f"/decoders/{a_id}").status_code == 200
        r = client.post("/recordings", json={"stream": body["stream"], "out": "day2/s01.xdf", "options":
                                             {"resolve_timeout": 30}})
        assert r.status_code == 201, r.text
        rec_id = r.json()["id"]
        r = client.post("/decoders", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["msg"] == ("record_path must not be a running recording's file, got "
                                                f"'day2/s01.xdf': recording {rec_id!r} writes it")
        assert client.delete(f"/recordings/{rec_id}").status_code == 200
        assert not (rec / "day2" / "s01.xdf").exists()  # no sample came: no file (and no decoder wrote one)


def test_a_recordings_dir_that_can_never_be_written_is_named_at_post(models_dir: Path, tmp_path: Path):
    """A recordings_dir under /proc (or a file, a read-only mount): a decoder asking to record, and a recording, were
    accepted (201), then ended in ``error`` with "[Errno 2] No such file or directory: '/proc/...'", not naming the
    setting. Now 422 at once, naming it; a decoder that records nothing is not concerned."""
    bad = Path("/proc") / unique("rec")
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, recordings_dir=bad)
    stream = {"name": unique("s15rf-procdir")}
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30.0) as client:
        r = client.post("/decoders", json={"stream": stream, "model": "tiny-gru", "options": {"record_path": "a.xdf"}})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "options", "record_path"], detail
        assert detail["msg"].startswith(f"record_path 'a.xdf' cannot be written: the service's recordings_dir "
                                        f"(setting recordings_dir, env BCI_STREAM_RECORDINGS_DIR) {bad}: cannot write "
                                        "in /proc ("), detail["msg"]
        r = client.post("/recordings", json={"stream": stream, "out": "b.xdf"})
        assert r.status_code == 422 and "out 'b.xdf' cannot be written: the service's recordings_dir" in r.text, r.text
        assert client.get("/decoders").json() == [] and client.get("/recordings").json() == []
        r = client.post("/decoders", json={"stream": stream, "model": "tiny-gru"})
        assert r.status_code == 201, r.text
        assert client.delete(f"/decoders/{r.json()['id']}").status_code == 200


def test_a_file_in_a_folder_that_cannot_be_written_is_refused_at_post(rec_server):
    """Found by an audit of non-root deployments: a sub-folder of recordings_dir the service cannot write (another
    user's ``s01/``; here, for root too, a file where the folder should be) was accepted (201) and failed later, the
    recording's error a bare ``PermissionError``. Now 422 naming the field, the folder and the cause."""
    srv, rec = rec_server
    (rec / "day3").write_text("a file, not a folder")
    why = f"cannot be written: its folder {rec / 'day3'}: {rec / 'day3'} is a file, not a folder: give a folder"
    with httpx.Client(base_url=srv.url, timeout=30.0) as client:
        r = client.post("/decoders", json={"stream": {"name": unique("s15rf-sub")}, "model": "tiny-gru",
                                           "options": {"record_path": "day3/s01.xdf"}})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "options", "record_path"] and detail["msg"].endswith(
            f"record_path 'day3/s01.xdf' {why}"), detail
        r = client.post("/recordings", json={"stream": {"name": unique("s15rf-sub")}, "out": "day3/run1.xdf"})
        assert r.status_code == 422, r.text
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", "out"] and detail["msg"].endswith(f"out 'day3/run1.xdf' {why}"), detail
        assert client.get("/decoders").json() == [] and client.get("/recordings").json() == []
