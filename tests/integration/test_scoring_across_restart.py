"""A worker killed mid-session (kill -9) is restarted and scores anew: the live score of the trials before the kill
stays in the status, ``scoring.before_restart`` (audit s52loop: a 7-cue session killed after 3 scored trials ended
with ``trials 3`` and nothing saying that 3 more had been scored before the restart).

Real uvicorn server, a real dedicated worker process killed with SIGKILL, real LSL on loopback (a string marker
outlet; names with "scorekill"), a real exported CSP+LDA oracle (``left`` when C3 carries more power than C4).
"""

from __future__ import annotations

import os
import signal
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

    root: Path = tmp_path_factory.mktemp("scorekill")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    export_csp_lda(params, root / "oracle", name="oracle", version="1.0.0",
                   scoring={"marker_map": MAP, "decision_time_s": 1.0})
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1, restart_backoff=0.2)
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


def test_the_score_before_a_worker_restart_stays_in_the_status(client):
    name = unique("scorekill")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle",
                                       "options": {"worker": "dedicated"}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled")
                         and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        push_trials(outlet, marker_outlet, 3, seed=1)
        st = wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] == 3, 60, "3 trials scored")
        assert (st["scoring"]["correct"], st["restarts"]) == (3, 0)
        assert "before_restart" not in st["scoring"]
        time.sleep(0.3)  # the worker's next snapshots: the 3 trials are in its last one
        os.kill(st["pid"], signal.SIGKILL)
        st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["state"] in ("running", "stalled")
                         and (s.get("markers") or {}).get("state") == "connected", 90, "restarted, markers again")
        push_trials(outlet, marker_outlet, 2, seed=2)
        st = wait_status(client, decoder_id, lambda s: s["scoring"]["trials"] == 2, 60, "2 trials after the restart")
        sc = st["scoring"]
        assert (sc["trials"], sc["correct"]) == (2, 2), sc
        before = sc["before_restart"]
        assert len(before) == 1, before
        assert (before[0]["model"], before[0]["trials"], before[0]["correct"]) == ("oracle@1.0.0", 3, 3), before
        assert before[0]["per_class"] == {"left": {"trials": 2, "correct": 2}, "right": {"trials": 1, "correct": 1}}
        assert before[0]["generation"] >= 1 and "before_restart" not in before[0]
    finally:
        client.delete(f"/decoders/{decoder_id}")
    del outlet, marker_outlet
