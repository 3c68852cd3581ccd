"""Live: the provenance ``state_epoch`` of rows decoded before a gap inside one pushed chunk (both worker kinds),
and ``gap_policy`` ``decay`` refused for a model without a recurrent state (POST /decoders and hot swap).

Real LSL on loopback, real worker processes, real uvicorn server.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, open_output, pull_all, wait_for
from support.pacing import push_paced

BEFORE, GAP_AT, AFTER = 200, 204, 100  # samples paced before the chunk; the gap's first sample; paced after it

TOKEN = "gap-epochs-token"


@pytest.fixture()
def supervisor(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0, shared_workers=1)
    yield sup
    sup.shutdown()


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_rows_before_a_gap_inside_a_pushed_chunk_carry_the_old_epoch(supervisor, models_dir, worker):
    """One pushed chunk of 8 holds samples 200-203 at their times and 204-207 one second later (a radio
    drop-out), gap_policy reset: provenance epoch 0 up to seq 203 (decoded with the old state), 1 from 204."""
    name = unique(f"gapchunk-{worker}")
    outlet, _ = new_outlet(name, f"{name}-src")
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"gap_policy": "reset", "worker": worker}})
    card = ModelRegistry(models_dir).get("tiny-gru").card
    handle = supervisor.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
    wait_for(lambda: handle.status.state == "running", 60, "the worker to be running")
    prov = open_output(f"{name}-decoded-provenance")
    n = BEFORE + 8 + AFTER
    x = test_signal(n, seed=11)
    ts = pylsl.local_clock() + np.arange(n) / TINY_SFREQ
    ts[GAP_AT:] += 1.0
    push_paced(outlet, x[:BEFORE], TINY_SFREQ, chunk=10, t_start=ts[0])
    time.sleep(max(0.0, ts[BEFORE + 7] - pylsl.local_clock()))
    outlet.push_chunk(x[BEFORE:BEFORE + 8], ts[BEFORE:BEFORE + 8].tolist())  # one chunk, the gap in its middle
    push_paced(outlet, x[BEFORE + 8:], TINY_SFREQ, chunk=10, t_start=ts[BEFORE + 8])
    p, _ = pull_all(prov, n, timeout=30)
    wait_for(lambda: handle.status.counters.samples_out == n, 10, "the counters")
    assert handle.status.counters.gap_policy_applied == 1 and handle.status.counters.state_epoch == 1
    np.testing.assert_array_equal(p[:, 0], np.arange(n))
    np.testing.assert_array_equal(p[:, 1], (np.arange(n) >= GAP_AT).astype(float))
    del outlet


@pytest.fixture(scope="module")
def decay_models_dir(models_dir: Path, tmp_path_factory) -> Path:
    """The tiny models plus a CSP+LDA model with the same outputs (filter and estimator states only)."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("decay-models")
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    params = CspLdaParams(ch_names=TINY_CH_NAMES[:2], sfreq=TINY_SFREQ, preprocessing=PreprocessingConfig(),
                          filters=np.eye(2), tau_s=0.1, power_init=np.ones(2),
                          coef=np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]]), intercept=np.zeros(3),
                          labels=["rest", "left", "right"])
    export_csp_lda(params, root / "tiny-csp", name="tiny-csp", version="1.0.0")
    return root


def test_decay_without_a_recurrent_state_is_refused_at_start_and_at_swap(decay_models_dir, tmp_path):
    """POST /decoders with gap_policy decay and a CSP model: 422 naming options.gap_policy, the rule, the model
    and its family; the same options with a GRU: 201, and its hot swap to the CSP model: 422, nothing changed."""
    settings = Settings(host="127.0.0.1", port=0, models_dir=decay_models_dir, status_interval=0.1, token=TOKEN,
                        recordings_dir=tmp_path / "rec")
    name = unique("decay")
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30.0,
                                                         headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        body = {"stream": {"name": name}, "model": "tiny-csp", "options": {"gap_policy": "decay"}}
        r = client.post("/decoders", json=body)
        assert r.status_code == 422, r.text
        (err,) = r.json()["detail"]
        assert err["loc"] == ["body", "options", "gap_policy"]
        for part in ("options.gap_policy", "needs a recurrent state", "tiny-csp@1.0.0", "'csp_lda'"):
            assert part in err["msg"], (part, err["msg"])
        assert client.get("/decoders").json() == []
        r = client.post("/decoders", json={**body, "model": "tiny-gru"})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "tiny-csp"})
        assert r.status_code == 422, r.text
        (err,) = r.json()["detail"]
        assert err["loc"] == ["body", "model"] and "needs a recurrent state" in err["msg"]
        st = client.get(f"/decoders/{decoder_id}").json()
        assert st["counters"]["swaps"] == 0 and st["request"]["model"] == "tiny-gru"
        r = client.post("/decoders", json={**body, "options": {"gap_policy": "reset"}})
        assert r.status_code == 201, r.text  # the CSP model with another gap policy is fine
        for d in client.get("/decoders").json():
            assert client.delete(f"/decoders/{d['id']}").status_code == 200
