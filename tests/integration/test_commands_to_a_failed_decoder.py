"""Reset, state and model commands to a decoder in ``error`` get the same clear 409 on a dedicated and on a shared
worker: the decoder has no running worker, naming its state.

A shared worker lives on after one of its streams failed; the command went down that decoder's closed pipe and came
back as "its worker ended (see the decoder's status) before it answered ([Errno 32] Broken pipe)", which was false (the
worker was decoding its other streams) and leaked an errno (found by an exploratory run).
"""

from __future__ import annotations

import httpx
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import TINY_SFREQ, unique
from support.http import wait_status

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_commands_to_a_decoder_in_error_are_refused_naming_its_state(models_dir, worker):
    name = unique(f"failed-{worker}")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", ["C3", "Cz", "C4"], TINY_SFREQ, f"{name}-src"))
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": worker}})  # 3 channels; the model needs 8
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        st = wait_status(client, decoder_id, lambda s: s["state"] == "error", 90.0, "state error")
        assert "channel" in st["last_error"], st
        for method, path, body in (("POST", "reset", None), ("PUT", "model", {"model": "tiny-lstm"}),
                                   ("GET", "state", None)):
            r = client.request(method, f"/decoders/{decoder_id}/{path}", json=body)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["detail"] == f"decoder {decoder_id} has no running worker (state 'error')", (path, r.text)
    del outlet
