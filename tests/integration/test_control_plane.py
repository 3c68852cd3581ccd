"""Control plane acceptance over a real uvicorn server on 127.0.0.1, real worker processes, real LSL:
two decoders at once, hot swap without loss, kill -9, state snapshot/restore, live outputs over
WebSocket, Prometheus metrics, readiness, and a bounded schemathesis run against the OpenAPI schema."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.lsl.info import make_stream_info
from bci_stream.core.settings import Settings
from support.common import TINY_CH_NAMES, TINY_SFREQ, export_tiny, test_signal, unique
from support.pacing import PacedPusher, push_paced
from support.http import wait_status
from support.lsl import pull_all_each
from support.lsl import open_output

TOKEN = "control-plane-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def swap_models_dir(models_dir: Path, tmp_path_factory) -> Path:
    """The tiny models plus a second GRU with other weights and the same outputs (a swap target)."""
    root = tmp_path_factory.mktemp("swap-models")
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    export_tiny(root, "tiny-gru-b", "gru", seed=7, hidden_size=24)
    return root


@pytest.fixture(scope="module")
def server(swap_models_dir: Path, tmp_path_factory):
    settings = Settings(host="127.0.0.1", port=0, models_dir=swap_models_dir, status_interval=0.1, token=TOKEN,
                        recordings_dir=tmp_path_factory.mktemp("recordings"), restart_backoff=0.2)
    with BackgroundServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30.0, headers=AUTH) as c:
        yield c


def outlet_for(name: str) -> pylsl.StreamOutlet:
    return pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src"))


def start_decoder(client: httpx.Client, name: str, model: str = "tiny-gru", **options) -> str:
    r = client.post("/decoders", json={"stream": {"name": name}, "model": model, "options": options})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    # running, or stalled already: its stream may send nothing yet (stall_timeout_s, 1 s by default)
    wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 30, "running")
    return decoder_id


def test_two_decoders_and_a_hot_swap_lose_no_sample(client):
    """Two streams decoded at once; one swaps its model mid-stream: both still output exactly one
    sample per input, in order; the swap is counted and visible in the provenance state_epoch."""
    names = [unique("swap-a"), unique("swap-b")]
    outlets = [outlet_for(n) for n in names]
    ids = [start_decoder(client, n) for n in names]
    inlets = [open_output(f"{n}-decoded") for n in names]
    prov = open_output(f"{names[0]}-decoded-provenance")
    n, half, rate = 6000, 3000, TINY_SFREQ * 3
    xs = [test_signal(n, seed=20 + i) for i in range(2)]
    stamps: dict[int, np.ndarray] = {}

    def push(i: int, lo: int, hi: int) -> None:
        t_start = None if lo == 0 else stamps[i][-1] + 1 / rate  # the second half goes on where the first ended
        stamps[i] = push_paced(outlets[i], xs[i][lo:hi], rate, chunk=8, t_start=t_start)

    threads = [threading.Thread(target=push, args=(i, 0, half)) for i in range(2)]
    for t in threads:
        t.start()
    wait_status(client, ids[0], lambda s: s["counters"].get("samples_out", 0) > 1500, 30, "decoding under way")
    r = client.put(f"/decoders/{ids[0]}/model", json={"model": "tiny-gru-b"})
    assert r.status_code == 200, r.text
    assert r.json()["model"]["name"] == "tiny-gru-b"
    assert r.json()["counters"]["swaps"] == r.json()["totals"]["swaps"] == 1  # the answer's totals include the swap
    # the rest once the swap is answered (it is in by then): on a loaded machine the new model's load could
    # outlast the whole stream, the swap then coming after the last sample (every state_epoch 0)
    for t in threads:
        t.join()
    threads = [threading.Thread(target=push, args=(i, half, n)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for decoder_id in ids:
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == n, 30, "all samples")
    *outs, (p, _) = pull_all_each([(inlet, n) for inlet in inlets] + [(prov, n)], timeout=30)
    for (y, ts), decoder_id in zip(outs, ids):
        st = client.get(f"/decoders/{decoder_id}").json()
        assert len(ts) == n and np.all(np.diff(ts) > 0)
        assert st["counters"]["samples_in"] == st["counters"]["samples_out"] == n
        assert st["counters"]["samples_lost"] == 0
    st = client.get(f"/decoders/{ids[0]}").json()
    assert st["counters"]["swaps"] == 1 and st["counters"]["state_epoch"] == 1 and st["model"]["name"] == "tiny-gru-b"
    epochs = p[:, 1]
    switch = int(np.argmax(epochs == 1))
    assert 0 < switch < n and np.all(epochs[:switch] == 0) and np.all(epochs[switch:] == 1)
    np.testing.assert_array_equal(p[:, 0], np.arange(n))
    assert client.get(f"/decoders/{ids[1]}").json()["counters"]["swaps"] == 0
    for decoder_id in ids:
        client.delete(f"/decoders/{decoder_id}")


def test_swap_to_an_incompatible_or_unknown_model_is_refused(client, swap_models_dir, tmp_path):
    name = unique("swap-bad")
    outlet = outlet_for(name)  # noqa: F841 - keeps the stream alive
    decoder_id = start_decoder(client, name, stall_timeout_s=600)  # silent: 'running' must outlast the requests
    r = client.put(f"/decoders/{decoder_id}/model", json={"model": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model"]
    r = client.put(f"/decoders/{decoder_id}/model", json={"model": "tiny-gru", "extra": 1})
    assert r.status_code == 422
    st = client.get(f"/decoders/{decoder_id}").json()
    assert st["state"] == "running" and st["counters"]["swaps"] == 0
    client.delete(f"/decoders/{decoder_id}")


def test_state_snapshot_and_restore(client):
    """GET state → arrays (recurrent h0 and filter zi); PUT it back → accepted and counted; a
    snapshot with a wrong shape or for another model → 409 with the reason, state unchanged."""
    name = unique("state")
    outlet = outlet_for(name)
    decoder_id = start_decoder(client, name)
    push_paced(outlet, test_signal(500, seed=2), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 500, 10, "500 samples")
    snap = client.get(f"/decoders/{decoder_id}/state").json()
    assert set(snap["arrays"]) == {"h0", "zf"} and snap["seq"] == 500
    assert np.asarray(snap["arrays"]["zf"]).shape == (1, 2 * (4 + 1), 8)  # one stream, band-pass order 4 + notch, 8 ch
    assert np.asarray(snap["arrays"]["h0"]).shape == (2, 1, 16)
    assert np.abs(np.asarray(snap["arrays"]["h0"])).sum() > 0
    r = client.put(f"/decoders/{decoder_id}/state", json=snap)
    assert r.status_code == 200 and r.json()["state_epoch"] == 1
    # the answer's model is the decoder's, not the request's echoed (a snapshot of another card of the same file)
    relabelled = dict(snap, model={**snap["model"], "version": "0.0.1-other-card"})
    r = client.put(f"/decoders/{decoder_id}/state", json=relabelled)
    assert r.status_code == 200 and r.json()["model"] == snap["model"] and r.json()["state_epoch"] == 2
    r = client.put(f"/decoders/{decoder_id}/state", json=dict(snap, seq=-5))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "seq"]
    bad = json.loads(json.dumps(snap))
    bad["arrays"]["h0"] = [[[0.0] * 5]]
    r = client.put(f"/decoders/{decoder_id}/state", json=bad)
    assert r.status_code == 422 and "must have shape (2, 1, 16)" in r.json()["detail"][0]["msg"]  # not a retry
    other = json.loads(json.dumps(snap))
    other["model"]["sha256"] = "0" * 64
    r = client.put(f"/decoders/{decoder_id}/state", json=other)
    assert r.status_code == 422 and "sha256 must be that of the running model" in r.json()["detail"][0]["msg"]
    assert client.put(f"/decoders/{decoder_id}/state", json={"arrays": "x"}).status_code == 422
    # status snapshots arrive every status interval: the restore shows in the next one
    wait_status(client, decoder_id, lambda st: st["counters"]["state_epoch"] == 2, 10, "state_epoch 2 in status")
    client.delete(f"/decoders/{decoder_id}")


def test_kill_9_is_reported_and_restarted_and_the_other_decoder_is_unaffected(client):
    """kill -9 of one worker while both streams flow (in real time, until the restarted worker decodes): noticed,
    reported with the signal, restarted (it decodes again); the other decoder keeps its process and loses nothing."""
    names = [unique("kill"), unique("calm")]
    outlets = [outlet_for(n) for n in names]
    ids = [start_decoder(client, n) for n in names]
    pushers = [PacedPusher(o, test_signal(60_000, seed=30 + i), TINY_SFREQ) for i, o in enumerate(outlets)]
    for t in pushers:
        t.start()
    before = wait_status(client, ids[1], lambda s: s["counters"].get("samples_out", 0) > 500, 30, "data flowing")
    pid = client.get(f"/decoders/{ids[0]}").json()["pid"]
    os.kill(pid, signal.SIGKILL)
    st = wait_status(client, ids[0], lambda s: s["restarts"] == 1 and s["pid"] != pid
                     and s["counters"].get("samples_out", 0) > 0, 30, "the restarted worker to decode")
    assert "signal 9" in st["last_error"] and st["state"] == "running"
    for t in pushers:
        t.halt.set()
        t.join(10)
    n = pushers[1].sent
    calm = wait_status(client, ids[1], lambda s: s["counters"].get("samples_out") == n, 30, "all samples")
    assert calm["pid"] == before["pid"] and calm["restarts"] == 0 and calm["counters"]["samples_in"] == n
    for decoder_id in ids:
        client.delete(f"/decoders/{decoder_id}")


def test_websocket_streams_live_outputs(client, server):
    """WS /decoders/{id}/outputs: every decoded sample (seq contiguous) with its timestamp and the labels;
    ``decimate=10`` sends every 10th; an unknown decoder closes with 4404."""
    name = unique("ws")
    outlet = outlet_for(name)
    decoder_id = start_decoder(client, name)
    ws_url = server.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs"
    n = 2000
    with ws_connect(ws_url, additional_headers=AUTH) as full, ws_connect(ws_url + f"?decimate=10&token={TOKEN}") as dec:
        push_paced(outlet, test_signal(n, seed=4), TINY_SFREQ * 4, chunk=10)
        got: dict[str, list] = {"full": [], "dec": []}
        for key, ws in (("full", full), ("dec", dec)):
            while sum(len(m["seq"]) for m in got[key]) < (n if key == "full" else n // 10):
                got[key].append(json.loads(ws.recv(timeout=20)))
    seq = np.concatenate([m["seq"] for m in got["full"]])
    np.testing.assert_array_equal(seq, np.arange(n))
    first = got["full"][0]
    assert first["labels"] == ["rest", "left", "right"] and len(first["y"][0]) == 3 and first["dropped"] == 0
    assert np.allclose(np.sum(np.concatenate([m["y"] for m in got["full"]]), axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([m["seq"] for m in got["dec"]]), np.arange(0, n, 10))
    with pytest.raises(ConnectionClosed) as info:  # accepted, then closed: the client can read why
        url = server.url.replace("http://", "ws://") + "/decoders/nope/outputs"
        with ws_connect(url, additional_headers=AUTH) as ws:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4404
    assert info.value.rcvd.reason == "decoder 'nope' not found"
    client.delete(f"/decoders/{decoder_id}")


def test_metrics_latency_and_ready(client):
    name = unique("metrics")
    outlet = outlet_for(name)
    decoder_id = start_decoder(client, name, stall_timeout_s=600)  # its state 'running' read after the data ended
    push_paced(outlet, test_signal(1000, seed=3), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 1000, 10, "1000 samples")
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, s.labels.get("decoder_id")): s.value for f in families.values() for s in f.samples
               if s.labels.get("decoder_id") == decoder_id}
    assert samples[("bci_stream_samples_in_total", decoder_id)] == 1000
    assert samples[("bci_stream_samples_out_total", decoder_id)] == 1000
    assert families["bci_stream_latency_decode_seconds"].type == "histogram"
    assert samples[("bci_stream_latency_e2e_seconds_count", decoder_id)] == 1000
    running = [s for s in families["bci_stream_decoder_state"].samples
               if s.labels["decoder_id"] == decoder_id and s.labels["state"] == "running"]
    assert running[0].value == 1.0
    # which exact model runs (audit s46 of reproducibility: the series said the model's name only)
    model = client.get(f"/decoders/{decoder_id}").json()["model"]
    (info,) = [s for s in families["bci_stream_decoder_model_info"].samples if s.labels["decoder_id"] == decoder_id]
    assert info.value == 1.0 and info.labels == {"decoder_id": decoder_id, "model": model["name"],
                                                 "version": model["version"], "sha256": model["sha256"]}, info

    lat = client.get(f"/decoders/{decoder_id}/latency").json()
    e2e = lat["stages"]["e2e"]
    assert e2e["count"] == 1000 and sum(e2e["counts"]) == 1000 and len(e2e["counts"]) == len(lat["edges"]) + 1
    assert e2e["summary_ms"]["p50"] > 0

    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["models"] >= 2
    client.delete(f"/decoders/{decoder_id}")


def model_series(client: httpx.Client, decoder_id: str) -> dict[str, dict[str, float]]:
    """/metrics' samples of one decoder (no histogram bucket, no quantile, state ``running`` only): per name, the
    value per ``model`` label."""
    got: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.labels.get("decoder_id") == decoder_id and "le" not in s.labels and "quantile" not in s.labels \
                    and s.labels.get("state", "running") == "running" and "stage" not in s.labels:
                got.setdefault(s.name, {})[s.labels["model"]] = s.value
    return got


def test_metrics_keep_every_models_series_over_a_swap_and_a_swap_back(client):
    """Each model a decoder ran keeps its series (frozen while another runs): their sum is the status's totals, a
    swap shows at once in ``bci_stream_swaps_total``, and the samples decoded on the other model stay after a swap
    back. Before, only the running model's series was exported: no series showed the first swap, and the swap back
    said 1 swap (the status 2) and dropped tiny-gru-b's samples."""
    name = unique("metrics-swap")
    outlet = outlet_for(name)
    decoder_id = start_decoder(client, name)
    x = test_signal(1800, seed=4)
    stamps = push_paced(outlet, x[:1000], TINY_SFREQ * 4, chunk=10)

    def decoded(n: int) -> dict:
        return wait_status(client, decoder_id, lambda s: s["totals"].get("samples_out") == n, 30, f"{n} samples")

    def swap(model: str) -> None:
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": model})
        assert r.status_code == 200 and r.json()["model"]["name"] == model, r.text

    def push(lo: int, hi: int) -> None:
        nonlocal stamps
        stamps = push_paced(outlet, x[lo:hi], TINY_SFREQ * 4, chunk=10, t_start=stamps[-1] + 1 / (TINY_SFREQ * 4))

    def agrees(st: dict, got: dict[str, dict[str, float]], running: str) -> None:
        for k in ("samples_in", "samples_out", "chunks", "swaps", "resets", "samples_lost"):
            assert sum(got[f"bci_stream_{k}_total"].values()) == st["totals"][k], (k, got[f"bci_stream_{k}_total"])
        assert sum(got["bci_stream_latency_e2e_seconds_count"].values()) == st["totals"]["samples_out"]
        assert set(got["bci_stream_decoder_state"]) == {running}  # a gauge: the running model's series only
        assert set(got["bci_stream_stall_seconds"]) == {running}

    decoded(1000)
    got = model_series(client, decoder_id)
    assert got["bci_stream_swaps_total"] == {"tiny-gru": 0}
    assert got["bci_stream_samples_in_total"] == {"tiny-gru": 1000}
    swap("tiny-gru-b")
    got = model_series(client, decoder_id)  # at once: the swap is counted in tiny-gru's series, exported before it
    assert got["bci_stream_swaps_total"] == {"tiny-gru": 1, "tiny-gru-b": 0}
    push(1000, 1500)
    st = decoded(1500)
    got = model_series(client, decoder_id)
    agrees(st, got, "tiny-gru-b")
    assert got["bci_stream_samples_in_total"] == {"tiny-gru": 1000, "tiny-gru-b": 500}
    swap("tiny-gru")
    push(1500, 1800)
    st = decoded(1800)
    got = model_series(client, decoder_id)
    agrees(st, got, "tiny-gru")
    assert st["totals"]["swaps"] == 2 and got["bci_stream_swaps_total"] == {"tiny-gru": 1, "tiny-gru-b": 1}
    assert got["bci_stream_samples_in_total"] == {"tiny-gru": 1300, "tiny-gru-b": 500}  # tiny-gru-b's frozen
    client.delete(f"/decoders/{decoder_id}")
    assert model_series(client, decoder_id) == {}  # a deleted decoder's series go, every model's


def test_ready_is_503_without_models(tmp_path):
    settings = Settings(host="127.0.0.1", port=0, models_dir=tmp_path / "empty")
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and "no valid model" in r.json()["reasons"][0]
        assert c.get("/health").status_code == 200


def test_ready_is_503_when_no_model_of_the_registry_can_be_loaded(tmp_path, models_dir):
    """Cards that read but whose ONNX file is missing or not the one they describe, or whose unit is no voltage (a
    decoder of it ended in error after a 201): every decoder of them would be refused, so the service is not ready
    (it said ready, "models": 3, no problem listed); one good model makes it."""
    import shutil

    root, good = tmp_path / "models", models_dir / "tiny-gru"
    for broken in ("truncated", "missing", "counts"):
        shutil.copytree(good, root / broken)
        card = json.loads((root / broken / "model.json").read_text())
        unit = {"unit": "counts"} if broken == "counts" else {}
        (root / broken / "model.json").write_text(json.dumps({**card, "name": f"tiny-{broken}", **unit}))
    onnx = root / "truncated" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100])
    (root / "missing" / "model.onnx").unlink()
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=root)) as srv, \
            httpx.Client(base_url=srv.url) as c:
        r = c.get("/ready")
        body = r.json()
        assert (r.status_code, body["ready"], body["models"]) == (503, False, 0), body
        assert body["reasons"][0].startswith(f"no valid model in models_dir {str(root)!r} (3 card(s), none whose "
                                             "files match it and a decoder can run"), body
        problems = " ".join(body["model_problems"])
        assert "model 'tiny-truncated@" in problems and "sha256 of" in problems, problems
        assert "model 'tiny-missing@" in problems and "does not exist" in problems, problems
        assert "model 'tiny-counts@" in problems and "unit 'counts' is not a voltage unit" in problems, problems
        r = c.post("/decoders", json={"stream": {"name": "nobody"}, "model": "tiny-counts"})
        assert r.status_code == 422 and "unit 'counts' is not a voltage unit" in r.text, r.text  # was 201, then error
        shutil.copytree(good, root / "tiny-gru")  # a loadable model beside them
        r = c.get("/ready")
        body = r.json()
        assert (r.status_code, body["ready"], body["models"], len(body["model_problems"])) == (200, True, 1, 3), body


def test_openapi_fuzzing_finds_no_server_error(server):
    """schemathesis generates requests from the OpenAPI schema (bounded); none may get a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings as hsettings

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.method.upper() in ("DELETE",):  # would stop other tests' decoders: covered above
            continue

        # 12 cases an operation (12 of the 17 fuzzed take parameters or a body: ~170 calls; f09 fuzzes the bodies
        # further)
        @hsettings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=server.url, headers=AUTH, timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
            if response.status_code == 201:  # a decoder or a recording was started: stop it again
                httpx.delete(f"{server.url}{case.path}/{response.json()['id']}", headers=AUTH, timeout=30)

        check()
    assert not failures, failures
    assert len(calls) > 50 and any(c < 300 for c in calls) and any(400 <= c < 500 for c in calls), calls
