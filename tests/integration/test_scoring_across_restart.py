"""A worker killed mid-session (kill -9) is restarted and scores anew: the live score of the trials before the kill
stays in the status, ``scoring.before_restart`` (audit s52loop: a 7-cue session killed after 3 scored trials ended
with ``trials 3`` and nothing saying that 3 more had been scored before the restart).

Real uvicorn server, a real dedicated worker process killed with SIGKILL, real LSL on loopback (a string marker
outlet; names with "scorekill"), a real exported CSP+LDA oracle (``left`` when C3 carries more power than C4) and
the oracle with no marker map (its scoring off).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.dashboard_text import panel_text
from support.http import wait_status
from support.oracle import export_oracles, export_unscored, push_trials, scored_decoder

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("scorekill")
    export_oracles(root)
    export_unscored(root, "unscored")
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1, restart_backoff=0.2)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as c:
        yield c


def test_the_score_before_a_worker_restart_stays_in_the_status(client):
    with scored_decoder(client, "scorekill", "oracle", {"worker": "dedicated"}) as d:
        push_trials(d.outlet, d.marker_outlet, 3, seed=1)
        st = wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 3, 60, "3 trials scored")
        assert (st["scoring"]["correct"], st["restarts"]) == (3, 0)
        assert "before_restart" not in st["scoring"]
        time.sleep(0.3)  # the worker's next snapshots: the 3 trials are in its last one
        os.kill(st["pid"], signal.SIGKILL)
        st = wait_status(client, d.id, lambda s: s["restarts"] == 1 and s["state"] in ("running", "stalled")
                         and (s.get("markers") or {}).get("state") == "connected", 90, "restarted, markers again")
        push_trials(d.outlet, d.marker_outlet, 2, seed=2)
        st = wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 2, 60, "2 trials after the restart")
        sc = st["scoring"]
        assert (sc["trials"], sc["correct"]) == (2, 2), sc
        before = sc["before_restart"]
        assert len(before) == 1, before
        assert (before[0]["model"], before[0]["trials"], before[0]["correct"]) == ("oracle@1.0.0", 3, 3), before
        assert before[0]["per_class"] == {"left": {"trials": 2, "correct": 2}, "right": {"trials": 1, "correct": 1}}
        assert before[0]["generation"] >= 1 and "before_restart" not in before[0]
        hint = panel_text(str(client.base_url).rstrip("/"), d.id, ".scoring-hint", "Before worker restarts")
        assert hint == f"Before worker restarts: worker {before[0]['generation']}, oracle@1.0.0 3/3 = 100 %.", hint


def test_a_worker_killed_under_a_scoring_off_swap_keeps_the_score_before_the_swap(client):
    """Trials under the oracle, a hot swap to a model whose scoring is off, then kill -9: the oracle's score stays in
    ``before_restart``, under the ended generation's ``previous`` (review s52rev F8: the swap dropped it), and the
    dashboard says so."""
    with scored_decoder(client, "scorekilloff", "oracle", {"worker": "dedicated"}) as d:
        push_trials(d.outlet, d.marker_outlet, 2, seed=3)
        wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 2, 60, "2 trials scored")
        r = client.put(f"/decoders/{d.id}/model", json={"model": "unscored"})
        assert r.status_code == 200, r.text
        st = wait_status(client, d.id, lambda s: "off" in s["scoring"], 30, "scoring off under unscored")
        time.sleep(0.3)  # the worker's next snapshots: the swap is in its last one
        os.kill(st["pid"], signal.SIGKILL)
        st = wait_status(client, d.id, lambda s: s["restarts"] == 1 and s["state"] in ("running", "stalled")
                         and s["scoring"].get("before_restart"), 90, "restarted, the ended generation's score kept")
        sc = st["scoring"]
        assert "off" in sc and "previous" not in sc, sc  # the restarted worker runs the swapped-in model
        (ended,) = sc["before_restart"]
        assert ended["off"] and ended["trials"] is None, ended
        assert (ended["previous"]["model"], ended["previous"]["trials"], ended["previous"]["correct"]) == (
            "oracle@1.0.0", 2, 2), ended
        hint = panel_text(str(client.base_url).rstrip("/"), d.id, ".scoring-hint", "Before worker restarts")
        assert hint == (f"Before worker restarts: worker {ended['generation']}, scoring off (and oracle@1.0.0 before "
                        "a swap: 2/2 = 100 %)."), hint
