"""Fault 6: a corrupt model file and a card/file mismatch, at start and at hot swap."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import AUTH, assert_service_up, make_settings, start_running
from support.pacing import push_paced
from support.http import wait_status
from support.lsl import pull_all
from support.lsl import new_outlet, open_output


def bad_copy(root: Path, src: Path, name: str, *, onnx: bytes | None = None, card_edit=None,
             rehash: bool = True) -> Path:
    """A copy of model folder ``src`` as ``name``, with another ONNX file and/or an edited card."""
    dst = root / name
    shutil.copytree(src, dst)
    card = json.loads((dst / "model.json").read_text())
    card["name"] = name
    if onnx is not None:
        (dst / "model.onnx").write_bytes(onnx)
    if rehash:
        card["sha256"] = hashlib.sha256((dst / "model.onnx").read_bytes()).hexdigest()
    if card_edit is not None:
        card_edit(card)
    (dst / "model.json").write_text(json.dumps(card))
    return dst


#: model -> the text its refusal must contain
PROBLEMS = {
    # the ONNX file was cut short after export: the card's sha256 no longer matches
    "truncated-gru": "the file was changed or corrupted after export",
    # the ONNX file is garbage, but its card was (re)written with its sha256: onnxruntime cannot load it
    "garbage-gru": "onnxruntime cannot load",
    # the card claims 32 hidden units; the graph has 16
    "shape-gru": "has last dimension 16, the card says 32",
    # an LSTM graph under a GRU card (sha256 updated): the graph has a c0 input the card does not know
    "lstm-as-gru": "ONNX inputs of",
    # the card itself is not JSON any more
    "broken-card": "is not readable JSON",
}


@pytest.fixture(scope="module")
def bad_models(models_dir: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-models")
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    gru, lstm = models_dir / "tiny-gru", models_dir / "tiny-lstm"
    onnx = (gru / "model.onnx").read_bytes()
    bad_copy(root, gru, "truncated-gru", onnx=onnx[: len(onnx) // 2], rehash=False)
    bad_copy(root, gru, "garbage-gru", onnx=np.random.default_rng(0).bytes(4096))
    def wider(card: dict) -> None:  # a card that is consistent in itself but not with its graph
        card["architecture"].update(hidden_size=32)
        next(s for s in card["step"]["states"] if s["name"] == "h0").update(shape=[2, 1, 32])

    bad_copy(root, gru, "shape-gru", card_edit=wider)
    bad_copy(root, gru, "lstm-as-gru", onnx=(lstm / "model.onnx").read_bytes())
    broken = bad_copy(root, gru, "broken-card")
    (broken / "model.json").write_text((broken / "model.json").read_text()[:200])
    return root


@pytest.fixture(scope="module")
def server(bad_models: Path, tmp_path_factory) -> Iterator[BackgroundServer]:
    with BackgroundServer(make_settings(bad_models, tmp_path_factory.mktemp("recordings"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0, headers=AUTH) as c:
        yield c


def assert_refused_naming(r: httpx.Response, model: str) -> None:
    assert r.status_code == 422, (model, r.status_code, r.text)
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "model"], (model, err)
    assert PROBLEMS[model] in err["msg"], (model, err["msg"])


@pytest.mark.parametrize("model", sorted(PROBLEMS))
def test_bad_model_is_refused_at_start(client, model):
    """POST /decoders with a corrupt model or one whose card and file disagree. Expected: 422 on
    ``body.model`` with a message naming the problem (sha256 mismatch, unloadable ONNX, the shape or
    input that disagrees, the unreadable card); no decoder and no process is created; the service
    stays up and ready (the valid models still serve)."""
    before = {d["id"] for d in client.get("/decoders").json()}
    r = client.post("/decoders", json={"stream": {"name": unique("nostream")}, "model": model})
    assert_refused_naming(r, model)
    assert {d["id"] for d in client.get("/decoders").json()} == before
    assert_service_up(client)


def test_bad_models_are_refused_at_hot_swap_and_the_decoder_is_unaffected(client, bad_models, worker_kind):
    """PUT /decoders/{id}/model with each bad model while the decoder streams. Expected: each swap is
    refused (422 on ``body.model``, the message naming the problem); the running decoder is unaffected:
    still ``running`` on its model (same sha256), no swap and no state change counted (``state_epoch``
    0 everywhere in the provenance), and every sample decoded exactly as the offline pipeline does
    (no sample lost, state untouched)."""
    name = unique("swap-bad")
    outlet, _ = new_outlet(name, f"{name}-src")
    # 'running' is asserted after each refused swap while a 2.5 s push runs: refusals slower than the push (a loaded
    # machine) must not meet a stall (stall_timeout_s 1 s by default) after it
    decoder_id = start_running(client, name, worker=worker_kind, stall_timeout_s=600)
    sha = client.get(f"/decoders/{decoder_id}").json()["model"]["sha256"]
    out = open_output(f"{name}-decoded")
    prov = open_output(f"{name}-decoded-provenance")
    n = 5000
    x = test_signal(n, seed=106)
    pusher = threading.Thread(target=push_paced, args=(outlet, x, TINY_SFREQ * 2), kwargs={"chunk": 10})
    pusher.start()
    try:
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 500, 30, "decoding")
        for model in sorted(PROBLEMS):
            r = client.put(f"/decoders/{decoder_id}/model", json={"model": model})
            assert_refused_naming(r, model)
            st = client.get(f"/decoders/{decoder_id}").json()
            assert st["state"] == "running" and st["model"]["sha256"] == sha, st
            assert st["counters"]["swaps"] == 0 and st["counters"]["state_epoch"] == 0
    finally:
        pusher.join()
    y, _ = pull_all(out, n, timeout=60)
    p, _ = pull_all(prov, n, timeout=30)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == n, 30, "all samples")
    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == n and c["samples_lost"] == 0 and c["swaps"] == 0
    assert st["restarts"] == 0 and st["model"]["sha256"] == sha
    np.testing.assert_array_equal(p[:, 0], np.arange(n))
    assert np.all(p[:, 1] == 0)
    assert np.abs(y - decode_offline(ModelRegistry(bad_models).get("tiny-gru"), x)).max() <= 1e-5
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
