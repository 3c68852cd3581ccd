"""A hot swap that can never succeed is 422 naming ``body.model`` (409 means "retry", and a client that retries
on 409 would retry it forever); 409 is kept for what a retry cures. Other outputs and another rate are told by the
API from the two cards before anything is sent; channels the stream lacks and another unit by the worker.
Real uvicorn server, real worker processes, real LSL on loopback."""

from __future__ import annotations

import httpx
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import TINY_CH_NAMES, export_tiny, unique
from support.http import wait_status
from support.tiny_variants import export_variant

TOKEN = "swap-refusal-token"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("swap-refusal-models")
    export_tiny(root, "tiny-gru", "gru")
    export_variant(root, "tiny-ok")  # same channels, rate and outputs: a swap a retry can complete
    export_variant(root, "tiny-out", labels=["rest", "feet"])
    export_variant(root, "tiny-250", sfreq=250.0)
    export_variant(root, "tiny-chan", ch_names=[f"X{i}" for i in range(len(TINY_CH_NAMES))])
    export_tiny(root, "tiny-v", "gru", seed=3, unit="V")
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1, token=TOKEN)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0,
                                                         headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def _unitless_outlet(name: str) -> pylsl.StreamOutlet:
    """Labels, no units: the stream is read in the running card's unit (assumed)."""
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), 500.0, "float32", f"{name}-src")
    channels = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        channels.append_child("channel").append_child_value("label", label)
    return pylsl.StreamOutlet(info)


@pytest.mark.parametrize(("model", "says"), [
    ("tiny-out", r"outputs categorical \['rest', 'feet'\]; the running decoder publishes categorical"),
    ("tiny-250", r"has sfreq=500 Hz; model 'tiny-250@1.0.0' needs sfreq=250 Hz. A hot swap keeps the stream"),
    ("tiny-chan", r"lacks 8 of the 8 channels model 'tiny-chan@1.0.0' needs"),
    ("tiny-v", r"model 'tiny-v@1.0.0' is in 'V'; the running decoder reads its stream"),
])
def test_a_swap_that_can_never_succeed_is_422_naming_body_model(client, model, says):
    import re

    name = unique("swap-422")
    outlet = _unitless_outlet(name)
    # its stream sends nothing: 'running' (asserted after the swap) lasts stall_timeout_s, longer than the requests
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"stall_timeout_s": 600}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        wait_status(client, decoder_id, lambda s: s["state"] == "running", 30, "running")
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": model})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "model"] and re.search(says, detail["msg"]), detail
        st = client.get(f"/decoders/{decoder_id}").json()
        assert st["state"] == "running" and st["counters"]["swaps"] == 0 and st["model"]["name"] == "tiny-gru"
    finally:
        client.delete(f"/decoders/{decoder_id}")
        del outlet  # kept alive until here


def test_a_swap_before_the_stream_is_connected_stays_409(client):
    """Not running yet (its stream not found so far): a retry can cure it, so 409 as before."""
    r = client.post("/decoders", json={"stream": {"name": unique("swap-409-absent")}, "model": "tiny-gru",
                                       "options": {"resolve_timeout": 60}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        wait_status(client, decoder_id, lambda s: s["state"] == "connecting", 30, "connecting")
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "tiny-ok"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == ("the decoder is still connecting (status state 'connecting'): a model swap is "
                                      "taken once it decodes its stream (status state 'running'); retry then")
    finally:
        client.delete(f"/decoders/{decoder_id}")
