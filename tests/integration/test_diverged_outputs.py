"""A decoder whose model diverges (here: a CSP+LDA oracle whose ONNX intercept is NaN, so every class probability is
NaN; before, a restored filter state of 1e300, which a restore now refuses) publishes its rows as they are, and says
so: the counter ``nonfinite_outputs`` (status, ``totals``, ``/metrics``), and the WebSocket sends each NaN as
``null`` (before: the literal ``NaN``, which JSON has not: a browser's ``JSON.parse`` and so the dashboard broke;
found by an exploratory run). Real uvicorn server, real worker, real LSL on loopback, a real exported CSP+LDA oracle."""

from __future__ import annotations

import json
import math
import time
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
        # its state is finite (the NaN is the model's own): said, and no reset (it would not help)
        nf = st["output_stream"]["nonfinite"]
        assert "though its state is finite" in nf["warning"] and not nf["state_diverged"], nf
        assert st["counters"]["divergence_resets"] == 0 and st["counters"]["state_epoch"] == 0
        metrics = client.get("/metrics").text
        line = next(ln for ln in metrics.splitlines()
                    if ln.startswith("bci_stream_nonfinite_outputs_total{") and decoder_id in ln)
        assert float(line.rsplit(" ", 1)[1]) == st["counters"]["nonfinite_outputs"]
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200


NAN_ABOVE = 50.0  # standardised units (mean 0, std 10 µV): an input sample beyond ±500 µV poisons the model


@pytest.fixture(scope="module")
def nan_gru(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GRU whose state turns NaN on an input sample beyond ±500 µV (its outputs NaN from that sample on, and
    for ever after, as a network that diverges on an artefact it was never trained for). It passes the export's
    parity check: the parity signal stays far below that."""
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    class NanAbove(CausalRNN):
        def encode(self, x: torch.Tensor, *state: torch.Tensor, masks=None):
            eta, new = super().encode(x, *state, masks=masks)
            bad = (x.abs().amax(-1, keepdim=True) > NAN_ABOVE).to(x.dtype)  # [B, T, 1]
            hit = bad.cumsum(1) > 0  # from the artefact on, within the chunk
            eta = eta + torch.where(hit, torch.full_like(bad, float("nan")), torch.zeros_like(bad))
            poison = torch.where(bad.sum() > 0, torch.tensor(float("nan")), torch.tensor(0.0))
            return eta, (new[0] + poison, *new[1:])

    root = tmp_path_factory.mktemp("nan_gru")
    torch.manual_seed(0)
    model = NanAbove(len(CH), 3, hidden_size=8, n_layers=1, cell="gru", head="categorical")
    export_model(model, root / "nan-gru", name="nan-gru", version="1.0.0", ch_names=CH, sfreq=SFREQ,
                 output_labels=["rest", "left", "right"], preprocessing=PreprocessingConfig(mean=[0.0, 0.0],
                                                                                           std=[10.0, 10.0]),
                 training={"data": "random weights, test fixture"})
    return root


def test_a_diverged_state_is_said_and_reset(nan_gru: Path) -> None:
    """A 10-sample electrode pop (5 mV) drives the state to NaN. Before: every later output NaN for ever, said only by
    the counter. Now, by default (``divergence_policy`` ``reset``): the warning in ``output_stream.nonfinite``, the
    state reset at once (``divergence_resets``, a new ``state_epoch``), so only the pop's own rows are NaN; a dedicated
    and a shared worker alike. ``keep``: the state stays NaN, said too. Input NaN (``nan_policy`` ``hold``) is no
    divergence: nothing said before the pop."""
    name = unique("s41d-nan")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    rng = np.random.default_rng(5)
    clean = (20.0 * rng.standard_normal((600, 2))).astype(np.float32)
    holes = clean[:20].copy()
    holes[5:10, 0] = np.nan  # an input NaN: nan_policy hold, no divergence
    pop = clean[:10].copy()
    pop[:, 0] = 5000.0
    parts = [holes, clean[20:300], pop, clean[300:]]
    total = sum(len(p) for p in parts)
    t0 = pylsl.local_clock()
    kinds = {"reset": {"worker": "dedicated"}, "reset-shared": {"worker": "shared"},
             "keep": {"divergence_policy": "keep"}}
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=nan_gru)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        ids = {}
        for kind, options in kinds.items():
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "nan-gru",
                                               "options": {**options, "output_name": f"{name}-{kind}"}})
            assert r.status_code == 201, r.text
            ids[kind] = r.json()["id"]
        for decoder_id in ids.values():
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")
        (info,) = pylsl.resolve_byprop("name", f"{name}-reset", timeout=30)
        inlet = pylsl.StreamInlet(info)
        inlet.open_stream(timeout=10)
        sent = 0
        for part in parts:  # each part decoded before the next is sent: the pop in a chunk of its own
            outlet.push_chunk(part, (t0 + np.arange(sent, sent + len(part)) / SFREQ).tolist())
            sent += len(part)
            for decoder_id in ids.values():
                wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == sent, 30,
                            f"{sent} decoded")
            if sent == 300:  # the input NaN were replaced (hold): no output NaN, nothing said
                st = client.get(f"/decoders/{ids['reset']}").json()
                assert st["stream"]["nonfinite"]["channels"] == {"C3": 5}
                assert st["output_stream"]["nonfinite"] is None and st["counters"]["divergence_resets"] == 0
        rows: list[np.ndarray] = []
        deadline = pylsl.local_clock() + 30
        while sum(len(r) for r in rows) < total and pylsl.local_clock() < deadline:
            y, _ = inlet.pull_chunk(timeout=1.0)
            if y:
                rows.append(np.asarray(y))
        y = np.concatenate(rows)
        assert len(y) == total  # one output per input sample, the NaN rows too
        bad = ~np.isfinite(y).all(axis=1)
        assert np.flatnonzero(bad).tolist() == list(range(300, 310))  # only the pop's rows; then decoding resumes
        for kind in ("reset", "reset-shared"):
            st = client.get(f"/decoders/{ids[kind]}").json()
            c, nf = st["counters"], st["output_stream"]["nonfinite"]
            assert c["nonfinite_outputs"] == 10 and c["divergence_resets"] >= 1 and c["state_epoch"] >= 1, (kind, c)
            assert st["totals"]["divergence_resets"] == c["divergence_resets"]
            assert nf["warning"] is not None and "reset to the model's initial state" in nf["warning"], nf
            assert nf["first_seq"] == 300 and nf["policy"] == "reset"
            assert all(math.isfinite(v) for v in st["last_output"])
        st = client.get(f"/decoders/{ids['keep']}").json()
        c, nf = st["counters"], st["output_stream"]["nonfinite"]
        assert c["nonfinite_outputs"] == total - 300 and c["divergence_resets"] == 0, c  # NaN for ever: kept
        assert nf["state_diverged"] and "divergence_policy 'keep'" in nf["warning"], nf
        metrics = client.get("/metrics").text
        line = next(ln for ln in metrics.splitlines()
                    if ln.startswith("bci_stream_divergence_resets_total{") and ids["reset"] in ln)
        assert float(line.rsplit(" ", 1)[1]) >= 1
        inlet.close_stream()
        for decoder_id in ids.values():
            assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_the_divergence_warning_ends_after_ten_seconds_of_finite_outputs(nan_gru: Path, tmp_path: Path) -> None:
    """The end of an episode (audit s53cov: never run by the suite): after a pop reset the state (``reset``), or after
    ``POST /decoders/{id}/reset`` (``keep``), :data:`~bci_stream.service.divergence.DIVERGED_END_S` of the stream
    with every output finite end the warning (``warning``, ``first_seq`` null, ``state_diverged`` false), the counts
    stay, and the recording's events say the end (``diverged`` with message null); not one sample earlier."""
    from bci_stream.service.divergence import DIVERGED_END_S

    name = unique("s53-divend")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    rng = np.random.default_rng(53)
    end_rows = int(DIVERGED_END_S * SFREQ)
    pop = (20.0 * rng.standard_normal((10, 2))).astype(np.float32)
    pop[:, 0] = 5000.0
    sent, t0 = 0, pylsl.local_clock()
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=nan_gru, recordings_dir=tmp_path)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        ids = {}
        for policy in ("reset", "keep"):
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "nan-gru", "options": {
                "divergence_policy": policy, "output_name": f"{name}-{policy}", "record_path": f"{policy}.xdf"}})
            assert r.status_code == 201, r.text
            ids[policy] = r.json()["id"]
        for decoder_id in ids.values():
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")

        def push(x: np.ndarray) -> None:
            nonlocal sent
            outlet.push_chunk(x, (t0 + np.arange(sent, sent + len(x)) / SFREQ).tolist())
            sent += len(x)
            for decoder_id in ids.values():
                wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == sent, 60,
                            f"{sent} decoded")

        def nonfinite(policy: str) -> dict:
            return client.get(f"/decoders/{ids[policy]}").json()["output_stream"]["nonfinite"]

        push((20.0 * rng.standard_normal((100, 2))).astype(np.float32))
        push(pop)
        assert client.post(f"/decoders/{ids['keep']}/reset").status_code == 200
        clean = (20.0 * rng.standard_normal((end_rows, 2))).astype(np.float32)
        push(clean[:-1])  # one finite row short of the end: the warning stands
        for policy in ids:
            assert nonfinite(policy)["warning"] is not None and nonfinite(policy)["first_seq"] == 100, policy
        push(clean[-1:])
        for policy in ids:
            nf = nonfinite(policy)
            assert nf["warning"] is None and nf["first_seq"] is None and not nf["state_diverged"], (policy, nf)
            assert nf["rows"] == 10 and nf["last_seq"] == 109, (policy, nf)
        for decoder_id in ids.values():
            assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    for policy in ids:
        import pyxdf

        streams = pyxdf.load_xdf(str(tmp_path / f"{policy}.xdf"), synchronize_clocks=False,
                                 dejitter_timestamps=False)[0]
        (events,) = [s for s in streams if s["info"]["name"][0].endswith("events")]
        diverged = [e for e in (json.loads(v[0]) for v in events["time_series"]) if e["event"] == "diverged"]
        assert diverged[0]["message"] is not None and diverged[-1]["message"] is None, (policy, diverged)
        assert diverged[-1]["seq"] == 109, (policy, diverged)


def test_the_dashboard_shows_a_non_finite_output_as_none_and_goes_on(models: Path) -> None:
    """Audit s68api F4: every WebSocket message of NaN rows (null) threw in the dashboard's script ('Cannot read
    properties of null (reading toFixed)'), its chart was never drawn again, and the current output read the first
    class. Headless Debian Chromium (playwright) on the page of a real server."""
    from playwright.sync_api import sync_playwright

    from test_dashboard import CHROMIUM_ARGS, WAIT_MS, chromium_path, wait_page

    name = unique("diverged-dash")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    x = np.random.default_rng(5).standard_normal((2000, 2)).astype(np.float32)
    problems: list[str] = []
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client, sync_playwright() as p:
        decoder_id = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle"}).json()["id"]
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{server.url}/")
            panel = f'section[data-decoder-id="{decoder_id}"]'
            page.wait_for_selector(panel, timeout=WAIT_MS)
            t0 = pylsl.local_clock()
            for k in range(0, 2000, 50):  # 20 s of samples in 40 pushes, while the page reads the WebSocket
                outlet.push_chunk(x[k:k + 50], (t0 + np.arange(k, k + 50) / SFREQ).tolist())
                time.sleep(0.05)
            wait_page(page, lambda: page.text_content(f"{panel} .now-label") == "– (non-finite output)",
                      "the current output shown as non-finite")
        finally:
            browser.close()
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    assert problems == [], problems
