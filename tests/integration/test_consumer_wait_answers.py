"""While ``wait_for_consumer_s`` holds a decoder's first output, its status and its refusals say what is true.

Found by an audit: a reset during the wait was refused (409) with "its stream is not connected yet" and the status
said ``connected: false``, while the input was connected and buffering (the README says so). Now the 409 names the
wait (the option, its limit, the decoded stream a consumer should subscribe to) and ``connected`` is true, with
``output_stream.waiting_for_consumer_s``. A real server, real workers (dedicated and shared), real LSL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output
from support.pacing import PacedPusher

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client(models_dir: Path):
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, shared_workers=1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_decoder_waiting_for_a_consumer_says_so(client, worker):
    name = unique("cwait")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(120 * TINY_SFREQ), seed=3), TINY_SFREQ)
    pusher.start()
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"wait_for_consumer_s": 60, "max_buffer_s": 120, "worker": worker}})
    assert r.status_code == 201, r.text
    did, decoded = r.json()["id"], f"{name}-decoded"
    inlet = None
    try:
        assert outlet.wait_for_consumers(60), "the decoder's inlet did not subscribe"  # its input is connected
        wait_status(client, did, lambda s: s["state"] == "connecting" and s["output_stream"] is not None, 60,
                    "a status report during the wait")
        for method, path, body in [("POST", f"/decoders/{did}/reset", None), ("GET", f"/decoders/{did}/state", None),
                                   ("PUT", f"/decoders/{did}/model", {"model": "tiny-gru"})]:
            r = client.request(method, path, json=body)
            assert r.status_code == 409 and r.json()["retryable"] is True, (method, path, r.text)
            assert r.json()["detail"] == (
                f"the decoder is waiting (at most 60 s: options.wait_for_consumer_s) for a consumer of its decoded "
                f"stream '{decoded}' before its first output; its input stream is connected and buffering. It takes "
                f"commands once it decodes (status state 'running': a consumer subscribed to '{decoded}', or the "
                "wait ended): retry then"), (method, path, r.text)
        st = wait_status(client, did, lambda s: "waiting_for_consumer_s" in s["output_stream"], 30, "the wait said")
        assert st["state"] == "connecting" and st["connected"] is True, st
        assert st["output_stream"]["waiting_for_consumer_s"] == 60, st
        inlet = open_output(decoded)  # the consumer comes: the wait ends, the decoder runs and takes commands
        st = wait_status(client, did, lambda s: s["state"] == "running", 60, "running")
        assert "waiting_for_consumer_s" not in st["output_stream"] and st["connected"] is True, st
        assert st["output_stream"]["consumer_at_first_output"] is True, st
        r = client.post(f"/decoders/{did}/reset")
        assert r.status_code == 200, r.text
    finally:
        client.delete(f"/decoders/{did}")
        pusher.halt.set()
        if inlet is not None:
            inlet.close_stream()
