"""Swapped A -> B -> A mid-session: the score under each earlier model stays in the status (``scoring.previous`` the
last one's, ``scoring.before_previous`` those before it; audit s52loop: after a swap and a swap back the first block's
score was gone from the status, and the score is not in /metrics).

Real uvicorn server, a real shared worker, real LSL on loopback (a string marker outlet; names with "scoreswaps"),
two real exported CSP+LDA oracles (``left`` when C3 carries more power than C4) with the same marker map, and the
oracle with no marker map (its scoring off).
"""

from __future__ import annotations

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
    root: Path = tmp_path_factory.mktemp("scoreswaps")
    export_oracles(root, ("oraclea", "oracleb"))
    export_unscored(root, "unscored")
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as c:
        yield c


def test_every_earlier_models_score_stays_after_a_swap_and_a_swap_back(client):
    with scored_decoder(client, "scoreswaps", "oraclea") as d:
        blocks = [("oraclea", 3), ("oracleb", 2), ("oraclea", 1)]
        for k, (model, n) in enumerate(blocks):
            if k:
                r = client.put(f"/decoders/{d.id}/model", json={"model": model})
                assert r.status_code == 200, r.text
                wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 0
                            and (s["scoring"].get("previous") or {}).get("model") == f"{blocks[k - 1][0]}@1.0.0",
                            30, f"the scoring of {model}")
            push_trials(d.outlet, d.marker_outlet, n, seed=k)
            wait_status(client, d.id, lambda s: s["scoring"]["trials"] == n, 60, f"{n} trials under {model}")
        sc = client.get(f"/decoders/{d.id}").json()["scoring"]
        assert (sc["model"], sc["trials"], sc["correct"]) == ("oraclea@1.0.0", 1, 1), sc
        assert (sc["previous"]["model"], sc["previous"]["trials"], sc["previous"]["correct"]) == ("oracleb@1.0.0", 2, 2)
        earlier = sc["before_previous"]
        assert [(e["model"], e["trials"], e["correct"]) for e in earlier] == [("oraclea@1.0.0", 3, 3)], earlier
        assert "before_previous" not in earlier[0] and "previous" not in earlier[0]
        hint = panel_text(str(client.base_url).rstrip("/"), d.id, ".scoring-hint", "Earlier models")
        assert hint == ("Before the last model swap (oracleb@1.0.0): 2/2 = 100 %. Earlier models: oraclea@1.0.0 3/3 = "
                        "100 %."), hint


def test_a_swap_through_a_model_whose_scoring_is_off_keeps_the_earlier_score(client):
    """A -> U -> A, U a model whose scoring is off: A's first score is in the status while U runs (beside ``off``)
    and in ``previous`` under A again (review s52rev F8: it was dropped at the swap to U)."""
    with scored_decoder(client, "scoreoff", "oraclea") as d:
        push_trials(d.outlet, d.marker_outlet, 2, seed=0)
        wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 2, 60, "2 trials under oraclea")
        r = client.put(f"/decoders/{d.id}/model", json={"model": "unscored"})
        assert r.status_code == 200, r.text
        sc = wait_status(client, d.id, lambda s: "off" in s["scoring"], 30, "scoring off under unscored")
        sc = sc["scoring"]
        assert "label_map" in sc["off"], sc
        assert (sc["previous"]["model"], sc["previous"]["trials"], sc["previous"]["correct"]) == (
            "oraclea@1.0.0", 2, 2), sc
        r = client.put(f"/decoders/{d.id}/model", json={"model": "oraclea"})
        assert r.status_code == 200, r.text
        wait_status(client, d.id, lambda s: "off" not in s["scoring"], 30, "scoring on under oraclea")
        push_trials(d.outlet, d.marker_outlet, 1, seed=1)
        wait_status(client, d.id, lambda s: s["scoring"]["trials"] == 1, 60, "1 trial under oraclea again")
        sc = client.get(f"/decoders/{d.id}").json()["scoring"]
        assert (sc["previous"]["model"], sc["previous"]["trials"], sc["previous"]["correct"]) == (
            "oraclea@1.0.0", 2, 2), sc
        assert sc["before_previous"] == [], sc
