"""A class coded 0 on an irregular one-channel numeric marker stream is scored live when the decoder's scoring map
names ``"0"`` (``--labels 0=rest,1=left,2=right``, as ``record`` and ``calibrate`` take it); without ``"0"`` in the
map a 0 stays "no event" (many senders push 0 as "trigger off"), as before.

Real LSL on loopback (an ``int32`` marker outlet, as a stimulus program pushes its codes), a real uvicorn server and
two real workers decoding the same stream: decoder A scores by its card (``scoring.marker_map`` ``{"0": "left",
"1": "right"}``), decoder B by ``options.markers.marker_map`` ``{"1": "right"}``. The model is a hand-made CSP+LDA
oracle (``left`` when C3 carries more power than C4): each trial shows its class but one, so the scores are known.
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
SFREQ, SPEED = 100.0, 8.0  # pushed 8x faster than real time
RATE = SFREQ * SPEED
TRIAL, CUE_EVERY, N_TRIALS, WRONG = 600, 700, 10, 3  # samples; trial WRONG shows the other class
CARD_MAP = {"0": "left", "1": "right"}  # left cues are coded 0, right cues 1

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("zero-oracle")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    export_csp_lda(params, root / "oracle0", name="oracle0", version="1.0.0",
                   scoring={"marker_map": CARD_MAP, "decision_time_s": 4.0})
    return root


def session() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """C3/C4 noise, the cued side 10x louder for TRIAL samples after each cue; markers ``(sample, code)``."""
    rng = np.random.default_rng(7)
    x = 3.0 * rng.standard_normal((300 + N_TRIALS * CUE_EVERY + 300, 2))
    markers = []
    for k in range(N_TRIALS):
        onset, side = 300 + k * CUE_EVERY, k % 2  # side 0: left (code 0), 1: right (code 1)
        shown = 1 - side if k == WRONG else side
        x[onset:onset + TRIAL, shown] *= 10.0 / 3.0
        x[onset:onset + TRIAL, 1 - shown] /= 3.0
        markers.append((onset, side))
    return x.astype(np.float32), markers


def push(outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet, x: np.ndarray,
         markers: list[tuple[int, int]], chunk: int = 10) -> None:
    """Samples at RATE on an absolute schedule; each code with its sample's timestamp as that chunk goes out."""
    ts = pylsl.local_clock() + 0.2 + np.arange(len(x)) / RATE
    todo = sorted(markers)
    for i in range(0, len(x), chunk):
        if (wait := ts[min(i + chunk, len(x)) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + chunk], ts[i:i + chunk].tolist())
        while todo and todo[0][0] < i + chunk:
            k, code = todo.pop(0)
            marker_outlet.push_sample([code], float(ts[k]))


def test_a_class_coded_0_is_scored_when_the_map_names_0_and_0_is_no_event_otherwise(models: Path) -> None:
    name = unique("s22zero")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "int32", f"{name}-markers-src"))
    x, markers = session()
    settings = Settings(host="127.0.0.1", port=0, models_dir=models, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        ids = []
        for options in ({}, {"markers": {"marker_map": {"1": "right"}}}):
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle0", "options": options})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for decoder_id in ids:
            # 'stalled' is no failure: nothing is pushed until both followers have connected
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                        and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        push(outlet, marker_outlet, x, markers)
        for decoder_id, n in zip(ids, (N_TRIALS, N_TRIALS // 2)):
            wait_status(client, decoder_id, lambda s, n=n: s["counters"]["samples_out"] == len(x)
                        and s["scoring"]["trials"] + s["scoring"]["missed"] >= n, 60, f"{n} trials scored")
        time.sleep(0.5)  # a 0 taken late would show now
        a, b = (client.delete(f"/decoders/{i}").json() for i in ids)
    del outlet, marker_outlet

    sa, sb = a["scoring"], b["scoring"]
    # A: the card's map names "0": the left cues (code 0) are trials
    assert a["markers"]["zero_is_event"] is True and a["markers"]["received"] == N_TRIALS
    assert (sa["source"], sa["trials"], sa["correct"], sa["missed"]) == ("card.scoring", N_TRIALS, N_TRIALS - 1, 0)
    assert sa["per_class"] == {"left": {"trials": 5, "correct": 5}, "right": {"trials": 5, "correct": 4}}
    assert [t["value"] for t in sa["last"]] == ["0", "1"] * 5 and sa["markers_unmapped"] == 0
    # B: its map does not name "0": a 0 is no event (not received, not unmapped), the 1s are scored
    assert b["markers"]["zero_is_event"] is False and b["markers"]["received"] == N_TRIALS // 2
    assert [m[1] for m in b["markers"]["recent"]] == ["1"] * (N_TRIALS // 2)
    assert (sb["source"], sb["trials"], sb["correct"], sb["missed"]) == ("options", 5, 4, 0)
    assert sb["markers_unmapped"] == 0 and sb["unmapped_values"] == {}
