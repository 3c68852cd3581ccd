"""A decoder's status tells a lab, now, whether it keeps up and whether it is healthy (real uvicorn, real worker
processes of both kinds, real LSL on loopback): recent load figures while decoding (in GET /decoders/{id} and
/metrics), and when the source stops a stall that is no error (``stall`` set, ``last_error`` null, also in the
final status after DELETE), cleared when the same source resumes. Behaviour only: no speed is asserted."""

from __future__ import annotations

import math

import httpx
import pylsl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher

LOAD_KEYS = ("window_s", "input_rate_hz", "chunk_rate_hz", "busy", "backlog_samples", "backlog_s", "backlog_max",
             "backlog_mean")


@pytest.fixture(scope="module")
def server(models_dir):
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        yield c


def decoding(st: dict) -> bool:
    load = st.get("load") or {}
    return (st["state"] == "running" and st["counters"]["samples_in"] >= 250
            and (load.get("latency_ms") or {}).get("e2e", {}).get("count", 0) > 0 and load.get("busy"))


def metric(text: str, name: str, decoder_id: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition (parsed by prometheus_client's own parser)."""
    want = {"decoder_id": decoder_id, "model": "tiny-gru", **labels}
    values = [s.value for family in text_string_to_metric_families(text) for s in family.samples
              if s.name == name and s.labels == want]
    assert len(values) == 1, f"{len(values)} samples {name} {want} in /metrics"
    return values[0]


def start(client: httpx.Client, name: str, worker: str) -> str:
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru", "options": {"worker": worker}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    # running, or stalled already: its stream sends nothing until the test's pusher starts, and with the default
    # stall_timeout_s (1 s) a loaded machine may stall it before the first poll that would have seen 'running'
    wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 90, "running")
    return decoder_id


def pushing(outlet, seed: int) -> PacedPusher:
    pusher = PacedPusher(outlet, test_signal(60 * int(TINY_SFREQ), seed=seed), TINY_SFREQ, chunk=5)
    pusher.start()
    return pusher


def halt(pusher: PacedPusher) -> None:
    pusher.halt.set()
    pusher.join(10)
    pusher.outlet = None  # the test holds the only reference left


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_load_figures_while_decoding_a_stall_that_is_no_error_and_its_clearing(client, worker):
    name = unique("load")
    sid = f"{name}-src"
    outlet, _ = new_outlet(name, sid)
    decoder_id = start(client, name, worker)

    # (i) decoding: the recent figures are there and finite, beside the cumulative ones
    pusher = pushing(outlet, seed=5)
    st = wait_status(client, decoder_id, decoding, 60, "recent load figures")
    load = st["load"]
    assert all(isinstance(load[k], (int, float)) and math.isfinite(load[k]) for k in LOAD_KEYS), load
    assert 0 < load["window_s"] <= 10.0 and load["input_rate_hz"] > 0 and load["chunk_rate_hz"] > 0
    assert 0 < load["busy"] <= 1.0
    assert isinstance(load["backlog_samples"], int) and 0 <= load["backlog_samples"] <= load["backlog_max"]
    assert load["backlog_s"] == pytest.approx(load["backlog_samples"] / TINY_SFREQ)
    for stage in ("e2e", "service"):
        recent, total = load["latency_ms"][stage], st["latency_ms"][stage]
        assert 0 < recent["count"] <= total["count"]
        assert 0 < recent["p50"] <= recent["p99"] <= recent["max"] <= total["max"] and math.isfinite(recent["p99"])
    assert st["stall"] is None and st["last_error"] is None
    # a loaded machine may starve the test's pusher for over stall_timeout_s (1 s), before its first data or while
    # it sends: each such stall is counted and cleared by a resume, so while decoding there are as many of each
    stalls = st["counters"]["stalls"]
    assert st["counters"]["resumes"] == stalls, st["counters"]
    text = client.get("/metrics").text
    assert 0 < metric(text, "bci_stream_busy_ratio", decoder_id) <= 1.0
    assert metric(text, "bci_stream_input_rate_hz", decoder_id) > 0
    assert metric(text, "bci_stream_backlog_samples", decoder_id) >= 0
    assert metric(text, "bci_stream_recent_latency_seconds", decoder_id, stage="e2e", quantile="0.99") > 0
    assert metric(text, "bci_stream_stall_seconds", decoder_id) == 0

    # (ii) the source stops sending (as a replay does at its end), then goes: stalled, not an error
    halt(pusher)
    st = wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
    stall = st["stall"]
    assert stall["kind"] == "silent" and "stall_timeout_s=1" in stall["reason"], stall
    assert stall["seconds"] > 0 and math.isfinite(stall["since"])
    # this stall is counted and not cleared (and any the pusher's starving made before it was)
    assert st["last_error"] is None and st["counters"]["stalls"] >= stalls + 1
    stalls, resumes = st["counters"]["stalls"], st["counters"]["resumes"]
    assert resumes == stalls - 1, st["counters"]
    del outlet
    st = wait_status(client, decoder_id, lambda s: s["stall"]["seconds"] > stall["seconds"], 30, "the stall to last")
    assert st["state"] == "stalled" and st["last_error"] is None and st["stall"]["since"] == stall["since"]
    assert metric(client.get("/metrics").text, "bci_stream_stall_seconds", decoder_id) > 0

    # (iii) the same source comes back and sends: running, the stall cleared, still no error
    outlet, _ = new_outlet(name, sid)
    assert outlet.wait_for_consumers(30), "the decoder did not re-subscribe to the returning source"
    pusher = pushing(outlet, seed=6)
    st = wait_status(client, decoder_id, lambda s: s["state"] == "running"
                     and s["counters"]["resumes"] >= resumes + 1, 30, "decoding to resume")
    assert st["stall"] is None and st["last_error"] is None and st["counters"]["reconnects"] == 1

    # the source stops for good; the final status (DELETE) keeps the stall and has no error
    halt(pusher)
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled" and s["counters"]["stalls"] >= stalls + 1, 30,
                "the second stall")
    final = client.delete(f"/decoders/{decoder_id}").json()
    assert final["state"] == "stopped" and final["last_error"] is None
    assert final["stall"]["kind"] == "silent" and final["counters"]["samples_in"] == final["counters"]["samples_out"]
    del outlet


def test_a_stream_without_source_id_that_goes_is_a_lost_stall_not_an_error(client):
    """A sender without a source_id cannot be recovered by liblsl: when it goes, the inlet is lost and the decoder
    looks for it itself. That is a stall too (``kind`` ``lost``), not an error."""
    name = unique("lost")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, ""))
    decoder_id = start(client, name, "dedicated")
    pusher = pushing(outlet, seed=7)
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] >= 250, 60, "decoding")
    halt(pusher)
    del outlet
    st = wait_status(client, decoder_id, lambda s: (s["stall"] or {}).get("kind") == "lost", 60, "the lost stall")
    assert st["state"] == "stalled" and st["connected"] is False and st["last_error"] is None
    assert st["stall"]["reason"] == "stream lost; waiting for the same source to come back"
    final = client.delete(f"/decoders/{decoder_id}").json()
    assert final["last_error"] is None and final["stall"]["kind"] == "lost"
