"""Swapped A -> B -> A mid-session: the score under each earlier model stays in the status (``scoring.previous`` the
last one's, ``scoring.before_previous`` those before it; audit s52loop: after a swap and a swap back the first block's
score was gone from the status, and the score is not in /metrics).

Real uvicorn server, a real shared worker, real LSL on loopback (a string marker outlet; names with "scoreswaps"),
two real exported CSP+LDA oracles (``left`` when C3 carries more power than C4) with the same marker map.
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
MAP = {"L": "left", "R": "right"}

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root: Path = tmp_path_factory.mktemp("scoreswaps")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    for name in ("oraclea", "oracleb"):
        export_csp_lda(params, root / name, name=name, version="1.0.0",
                       scoring={"marker_map": MAP, "decision_time_s": 1.0})
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as c:
        yield c


def push_trials(outlet: pylsl.StreamOutlet, marker_outlet: pylsl.StreamOutlet, n_trials: int, seed: int) -> None:
    """``n_trials`` cues 250 samples apart (L, R, L, ...), each showing its side for 200 samples, at 4x real time."""
    rng = np.random.default_rng(seed)
    n = 100 + 250 * n_trials + 100
    x = (3.0 * rng.standard_normal((n, 2))).astype(np.float32)
    cues = []
    for k in range(n_trials):
        onset, side = 100 + 250 * k, k % 2
        x[onset:onset + 200, side] *= 10.0 / 3.0
        x[onset:onset + 200, 1 - side] /= 3.0
        cues.append((onset, "L" if side == 0 else "R"))
    ts = pylsl.local_clock() + 0.2 + np.arange(n) / (SFREQ * 4.0)
    for i in range(0, n, 10):
        if (wait := ts[min(i + 10, n) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 10], ts[i:i + 10].tolist())
        while cues and cues[0][0] < i + 10:
            k, value = cues.pop(0)
            marker_outlet.push_sample([value], float(ts[k]))


def test_every_earlier_models_score_stays_after_a_swap_and_a_swap_back(client):
    name = unique("scoreswaps")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "oraclea"})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                    and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        blocks = [("oraclea", 3), ("oracleb", 2), ("oraclea", 1)]
        for k, (model, n) in enumerate(blocks):
            if k:
                r = client.put(f"/decoders/{decoder_id}/model", json={"model": model})
                assert r.status_code == 200, r.text
                wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] == 0
                            and (s["scoring"].get("previous") or {}).get("model") == f"{blocks[k - 1][0]}@1.0.0",
                            30, f"the scoring of {model}")
            push_trials(outlet, marker_outlet, n, seed=k)
            wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] == n, 60, f"{n} trials under {model}")
        sc = client.get(f"/decoders/{decoder_id}").json()["scoring"]
        assert (sc["model"], sc["trials"], sc["correct"]) == ("oraclea@1.0.0", 1, 1), sc
        assert (sc["previous"]["model"], sc["previous"]["trials"], sc["previous"]["correct"]) == ("oracleb@1.0.0", 2, 2)
        earlier = sc["before_previous"]
        assert [(e["model"], e["trials"], e["correct"]) for e in earlier] == [("oraclea@1.0.0", 3, 3)], earlier
        assert "before_previous" not in earlier[0] and "previous" not in earlier[0]
    finally:
        client.delete(f"/decoders/{decoder_id}")
    del outlet, marker_outlet
