"""Live scoring follows the running model: after a hot swap to a model calibrated with other marker codes, the cues
are scored by the new card's map (``scoring.model`` names it, ``scoring.previous`` keeps the last model's score),
and the marker follower's 0 rule (a numeric 0 is a cue when the map names ``"0"``) follows the same map, as a
restarted worker takes them from the swapped-in card. A swap sent while the decoder still connects is refused (409)
naming its state.

Real uvicorn server, real worker processes, real LSL on loopback (an ``int32`` marker outlet; names with "scorewt"),
real exported CSP+LDA oracles (``left`` when C3 carries more power than C4) whose cards differ only in their
``scoring`` map.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.http import wait_status

CH = ["C3", "C4"]
SFREQ = 100.0
MAP_A = {"0": "left", "1": "right"}  # model A codes left cues 0: its 0s are cues
MAP_B = {"1": "left", "2": "right"}  # model B codes them 1 and 2: a 0 is "trigger off"

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("scorewt-swap")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    for name, marker_map in (("oraclea", MAP_A), ("oracleb", MAP_B)):
        export_csp_lda(params, root / name, name=name, version="1.0.0",
                       scoring={"marker_map": marker_map, "decision_time_s": 1.0})
    return root


@pytest.fixture(scope="module")
def client(models: Path):
    settings = Settings(host="127.0.0.1", port=0, models_dir=models, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as c:
        yield c


def trials(n: int, codes: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """C3/C4 noise; after each cue (every 250 samples from 100) code ``codes[k]``'s side (left for the first code of
    a pair, right for the second) 10x louder for 200 samples; each cue followed by a 0 ("trigger off") 5 samples on."""
    rng = np.random.default_rng(3)
    x = (3.0 * rng.standard_normal((n, 2))).astype(np.float32)
    markers = []
    for k, code in enumerate(codes):
        onset, side = 100 + 250 * k, k % 2
        x[onset:onset + 200, side] *= 10.0 / 3.0
        x[onset:onset + 200, 1 - side] /= 3.0
        markers += [(onset, code), (onset + 5, 0)]
    return x, markers


def push(outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet, x: np.ndarray,
         markers: list[tuple[int, int]], speed: float = 4.0) -> None:
    ts = pylsl.local_clock() + 0.2 + np.arange(len(x)) / (SFREQ * speed)
    todo = sorted(markers)
    for i in range(0, len(x), 10):
        if (wait := ts[min(i + 10, len(x)) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 10], ts[i:i + 10].tolist())
        while todo and todo[0][0] < i + 10:
            k, code = todo.pop(0)
            marker_outlet.push_sample([code], float(ts[k]))


def test_after_a_swap_the_scoring_and_the_zero_rule_follow_the_new_models_map(client):
    name = unique("scorewt-swap")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "int32", f"{name}-markers-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "oraclea"})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                         and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        assert st["markers"]["zero_is_event"] is True
        # model A: a left cue (0), a right cue (1), each with its 0 after it: cues of left too (the one after the
        # right cue is wrong)
        x, markers = trials(700, [0, 1])
        push(outlet, marker_outlet, x, markers)
        st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == 700
                         and s["scoring"]["trials"] + s["scoring"]["interrupted"] >= 4, 60, "model A's 4 cues")
        sa = st["scoring"]
        assert (sa["model"], sa["marker_map"], sa["trials"], sa["correct"]) == ("oraclea@1.0.0", MAP_A, 4, 3), sa

        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "oracleb"})
        assert r.status_code == 200, r.text
        change = r.json()["state_change"]
        assert (change["kind"], change["state_epoch"]) == ("swap", r.json()["counters"]["state_epoch"])
        assert change["first_seq"] == 700  # every sample pushed so far was decoded by model A
        swapped = r.json()["scoring"]  # the answer's scoring is the new model's (audit s61life F1: was the last one's)
        assert (swapped["model"], swapped["marker_map"], swapped["trials"]) == ("oracleb@1.0.0", MAP_B, 0), swapped
        assert (swapped["previous"]["model"], swapped["previous"]["trials"]) == ("oraclea@1.0.0", 4), swapped
        assert r.json()["markers"]["zero_is_event"] is False  # as the new model's map says
        state = client.get(f"/decoders/{decoder_id}/state").json()
        restored = client.put(f"/decoders/{decoder_id}/state", json=state).json()
        assert (restored["state_epoch"], restored["first_seq"]) == (change["state_epoch"] + 1, 700)
        st = wait_status(client, decoder_id, lambda s: s["scoring"].get("model") == "oracleb@1.0.0", 30,
                         "the scoring of model B")
        sb = st["scoring"]
        assert sb["marker_map"] == MAP_B and sb["source"] == "card.scoring" and sb["trials"] == 0
        assert st["markers"]["zero_is_event"] is False
        assert (sb["previous"]["model"], sb["previous"]["trials"], sb["previous"]["correct"]) == ("oraclea@1.0.0", 4, 3)
        received = st["markers"]["received"]

        x, markers = trials(700, [1, 2])  # model B: left 1, right 2; the 0s after them are no events now
        push(outlet, marker_outlet, x, markers)
        st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == 1400
                         and s["scoring"]["trials"] + s["scoring"]["interrupted"] >= 2, 60, "model B's 2 cues")
        time.sleep(0.5)  # a 0 taken late would show now
        st = client.get(f"/decoders/{decoder_id}").json()
        sb = st["scoring"]
        assert (sb["trials"], sb["correct"], sb["interrupted"], sb["markers_unmapped"]) == (2, 2, 0, 0), sb
        assert st["markers"]["received"] == received + 2
        assert [m[1] for m in st["markers"]["recent"][-2:]] == ["1", "2"]
    finally:
        client.delete(f"/decoders/{decoder_id}")
    del outlet, marker_outlet


def test_a_swap_while_the_decoder_connects_is_409_naming_its_state(client):
    r = client.post("/decoders", json={"stream": {"name": unique("scorewt-absent")}, "model": "oraclea",
                                       "options": {"resolve_timeout": 60}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        wait_status(client, decoder_id, lambda s: s["state"] == "connecting", 30, "connecting")
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "oracleb"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == ("the decoder is still connecting (status state 'connecting'): a model swap is "
                                      "taken once it decodes its stream (status state 'running'); retry then")
    finally:
        client.delete(f"/decoders/{decoder_id}")
