"""A decoder whose model diverges (here: a CSP+LDA oracle whose ONNX intercept is NaN, so every class probability is
NaN; before, a restored filter state of 1e300, which a restore now refuses) publishes its rows as they are, and says
so: the counter ``nonfinite_outputs`` (status, ``totals``, ``/metrics``), and the WebSocket sends each NaN as
``null`` (before: the literal ``NaN``, which JSON has not: a browser's ``JSON.parse`` and so the dashboard broke;
found by an exploratory run). Real uvicorn server, real worker, real LSL on loopback, a real exported CSP+LDA oracle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.http import wait_status

CH, SFREQ = ["C3", "C4"], 100.0
pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    root = tmp_path_factory.mktemp("diverged")
    params = CspLdaParams(ch_names=CH, sfreq=SFREQ, preprocessing=PreprocessingConfig(bandpass=(8.0, 30.0)),
                          filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[3.0, -3.0], [-3.0, 3.0]]),
                          intercept=np.zeros(2), labels=["left", "right"])
    export_csp_lda(params, root / "oracle", name="oracle", version="1.0.0")
    diverge(root / "oracle")
    return root


def diverge(folder: Path) -> None:
    """The LDA intercept of the model's ONNX file set to NaN (every class probability NaN), the card's sha256
    updated: a broken model that passes the loader's checks (a restored state no longer can: values beyond ±1e15
    are refused)."""
    import onnx
    from onnx import numpy_helper

    from bci_stream.core.card import sha256_file

    graph = onnx.load(folder / "model.onnx")
    (init,) = [i for i in graph.graph.initializer if i.name.startswith("lda/intercept")]
    init.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(init).shape, np.nan), init.name))
    onnx.save(graph, folder / "model.onnx")
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**card, "sha256": sha256_file(folder / "model.onnx")}))


def _strict(text: str) -> dict:
    def no_constant(word: str) -> None:
        raise AssertionError(f"not JSON: {word}")

    return json.loads(text, parse_constant=no_constant)


def test_a_diverged_model_is_counted_and_its_rows_stay_json(models: Path) -> None:
    name = unique("diverged")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    x = np.random.default_rng(3).standard_normal((400, 2)).astype(np.float32)
    t0 = pylsl.local_clock()
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle"})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")
        outlet.push_chunk(x[:100], (t0 + np.arange(100) / SFREQ).tolist())
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 100, 30, "100 decoded")
        ws = server.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs"
        with ws_connect(ws) as sock:
            outlet.push_chunk(x[100:], (t0 + np.arange(100, 400) / SFREQ).tolist())
            rows: list = []
            while len(rows) < 300:
                message = _strict(sock.recv(timeout=30))
                rows += message["y"]
        assert any(v is None for row in rows for v in row), rows[:3]
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 400, 30, "400 decoded")
        assert 0 < st["counters"]["nonfinite_outputs"] <= 400 and st["totals"]["nonfinite_outputs"] > 0
        assert st["last_output"] is None or all(v is None or math.isfinite(v) for v in st["last_output"])
        metrics = client.get("/metrics").text
        line = next(ln for ln in metrics.splitlines()
                    if ln.startswith("bci_stream_nonfinite_outputs_total{") and decoder_id in ln)
        assert float(line.rsplit(" ", 1)[1]) == st["counters"]["nonfinite_outputs"]
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
