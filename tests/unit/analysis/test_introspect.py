"""Introspection of step-graph models: Jacobian time constants through onnxruntime, LSTM forget gates,
report and files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from bci_stream.core.errors import ModelError
from bci_stream.analysis import jacobian, lstm_gates, onnx_lstm
from bci_stream.analysis.introspect import (
    format_table,
    inspect_model,
    jacobian_time_constants,
    lstm_forget_time_constants,
    run_inspect,
)
from bci_stream.core.registry import ModelRegistry

SFREQ = 500.0
DT_MS = 1000.0 / SFREQ


def _export(model, out_dir: Path, name: str, preprocessing=None) -> None:
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.dsp.preprocess import PreprocessingConfig

    labels = [f"y{i}" for i in range(model.n_outputs)]
    ch_names = [f"E{i}" for i in range(model.n_chans)]
    export_model(model, out_dir / name, name=name, version="1.0.0", ch_names=ch_names, sfreq=SFREQ,
                 output_labels=labels, preprocessing=preprocessing or PreprocessingConfig(), parity_samples=200)


def _strict_json(text: str) -> object:
    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=reject)


# ---------------------------------------------------------------------------------------------------
# known answer: a hand-set GRU whose Jacobian at h = 0 is known in closed form
# ---------------------------------------------------------------------------------------------------
ROT_Z, ROT_A, ROT_THETA = 0.5, 0.9, 0.3  # units 0, 1: lambda = z + (1 - z) a exp(+-i theta)
TAU_SLOW, TAU_FAST = 100.0, 10.0  # units 2, 3: lambda = z = exp(-dt / tau)
FLIP = -0.5  # unit 4: z ~ 0, self weight -0.5 -> lambda = -0.5 (sign flip each sample)
# unit 5: z = 1 -> lambda = 1 (perfect memory, tau = inf)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.fixture(scope="module")
def hand_gru(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer GRU (H = 6), zero input weights, h = 0 a fixed point with a closed-form Jacobian.

    With all input and z/r recurrent weights zero, r = sigmoid(30) ~ 1 and n = tanh(M h), the map is
    h' = (1 - z) tanh(M h) + z h, so J(0) = diag(z) + diag(1 - z) M.
    """
    import torch

    from bci_stream.train.nets.rnn import CausalRNN

    h = 6
    model = CausalRNN(n_chans=2, n_outputs=1, hidden_size=h, cell="gru", head="gaussian")
    z = [ROT_Z, ROT_Z, math.exp(-DT_MS / TAU_SLOW), math.exp(-DT_MS / TAU_FAST), None, None]
    z_bias = [_logit(v) for v in z[:4]] + [-30.0, 30.0]
    m = np.zeros((h, h))
    c, s = math.cos(ROT_THETA), math.sin(ROT_THETA)
    m[:2, :2] = ROT_A * np.array([[c, -s], [s, c]])
    m[4, 4] = FLIP
    with torch.no_grad():
        for p in model.rnn.parameters():
            p.zero_()
        model.rnn.bias_ih_l0[:h] = 30.0  # r gate -> 1
        model.rnn.bias_ih_l0[h : 2 * h] = torch.tensor(z_bias)  # z gate
        model.rnn.weight_hh_l0[2 * h :] = torch.from_numpy(m).float()  # n gate recurrent weights
    root = tmp_path_factory.mktemp("hand")
    _export(model, root, "hand-gru")
    return root


def test_known_answer_eigenvalues_and_time_constants(hand_gru: Path) -> None:
    entry = ModelRegistry(hand_gru).get("hand-gru")
    res = jacobian_time_constants(entry)
    assert res["fixed_point"]["converged"]
    assert res["fixed_point"]["residual"] < 1e-7
    np.testing.assert_allclose(res["fixed_point"]["state"]["h0"], np.zeros((1, 6)), atol=1e-7)
    assert res["dt_ms"] == pytest.approx(DT_MS)

    rot = ROT_Z + (1 - ROT_Z) * ROT_A * np.exp(1j * ROT_THETA)
    modes = res["modes"]
    assert len(modes) == 6
    # sorted by tau descending: z = 1 (inf), tau 100 ms, the rotation pair, tau 10 ms, the flip
    first = modes[0]
    assert first["abs"] == pytest.approx(1.0, abs=1e-4)
    assert first["tau_ms"] == "inf" or first["tau_ms"] > 1e4
    assert first["period_ms"] is None and first["frequency_hz"] == 0.0

    slow = modes[1]
    assert slow["im"] == 0.0 and slow["period_ms"] is None
    assert slow["tau_ms"] == pytest.approx(TAU_SLOW, rel=1e-3)

    pair = modes[2:4]
    assert sorted(m["im"] for m in pair) == pytest.approx([-rot.imag, rot.imag], abs=2e-4)
    for m in pair:
        assert m["re"] == pytest.approx(rot.real, abs=2e-4)
        assert m["abs"] == pytest.approx(abs(rot), abs=2e-4)
        assert m["tau_ms"] == pytest.approx(-DT_MS / math.log(abs(rot)), rel=0.01)
        period = 2 * math.pi * DT_MS / abs(np.angle(rot))
        assert m["period_ms"] == pytest.approx(period, rel=0.01)
        assert m["frequency_hz"] == pytest.approx(1000.0 / period, rel=0.01)

    fast = modes[4]
    assert fast["tau_ms"] == pytest.approx(TAU_FAST, rel=1e-3)

    flip = modes[5]
    assert flip["re"] == pytest.approx(FLIP, abs=1e-4) and flip["im"] == 0.0
    assert flip["tau_ms"] == pytest.approx(-DT_MS / math.log(abs(FLIP)), rel=0.01)
    assert flip["period_ms"] == pytest.approx(2 * DT_MS)  # Nyquist: sign flips every sample
    assert flip["frequency_hz"] == pytest.approx(SFREQ / 2)


def test_unit_modulus_eigenvalue_has_infinite_tau_as_string() -> None:
    mode = jacobian._mode(complex(1.0, 0.0), DT_MS)
    assert mode["tau_ms"] == "inf" and mode["stable"] is False and mode["period_ms"] is None
    assert jacobian._mode(complex(0.0, 0.0), DT_MS)["tau_ms"] == 0.0


# ---------------------------------------------------------------------------------------------------
# the ORT finite-difference Jacobian equals torch autograd at the same fixed point
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,n_layers", [("gru", 1), ("lstm", 2)])
def test_jacobian_matches_torch_autograd(tmp_path: Path, cell: str, n_layers: int) -> None:
    """The step graph under a zero raw input feeds the network the preprocessed zero sample (the
    standardisation offset), so torch gets that constant input, not zeros."""
    import torch

    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor

    torch.manual_seed(3)
    h = 8
    model = CausalRNN(n_chans=2, n_outputs=1, hidden_size=h, n_layers=n_layers, cell=cell, head="gaussian")
    with torch.no_grad():  # stronger recurrence than the default init: a non-trivial fixed point
        for name, p in model.rnn.named_parameters():
            if name.startswith("weight_hh"):
                p.mul_(4.0)
            if name.startswith("bias"):
                p.mul_(3.0)
    pre = PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0, car=True, mean=[0.5, -1.0], std=[0.4, 0.8])
    _export(model, tmp_path, "ad", preprocessing=pre)
    res = jacobian_time_constants(ModelRegistry(tmp_path).get("ad"))
    assert res["fixed_point"]["converged"]

    # a zero first sample starts the band-pass at rest (zero state), so the network sees CAR(0) = 0
    # standardised: the constant -mean / std
    silent = Preprocessor(pre, 2, SFREQ).process(np.zeros((1, 2)))
    np.testing.assert_allclose(silent[0], [-0.5 / 0.4, 1.0 / 0.8], rtol=1e-6)
    assert res["input"]["raw"] == 0.0
    np.testing.assert_allclose(res["input"]["preprocessed"], silent[0], rtol=1e-6)

    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    assert [(b["array"], b["layer"]) for b in res["state_layout"]] == [(n, k) for n in names for k in range(n_layers)]
    m64 = model.double().eval()
    x0 = torch.from_numpy(silent.astype(np.float64))[None]  # [1, 1, 2]: the preprocessed zero raw sample

    def step(s: torch.Tensor) -> torch.Tensor:
        arrays = [a.reshape(n_layers, 1, h) for a in s.reshape(len(names), n_layers * h)]
        _, *new = m64(x0, *arrays)
        return torch.cat([a.reshape(-1) for a in new])

    s = torch.tensor(np.concatenate([np.ravel(res["fixed_point"]["state"][n]) for n in names]), dtype=torch.float64)
    with torch.no_grad():
        for _ in range(500):  # polish the fixed point in float64
            s = step(s)
    np.testing.assert_allclose(s.numpy(), np.concatenate([np.ravel(res["fixed_point"]["state"][n]) for n in names]),
                               atol=1e-5)
    assert float(s.abs().max()) > 0.05  # the linearisation is not at the trivial origin
    jac_ad = torch.autograd.functional.jacobian(step, s).numpy()
    jac = np.asarray(res["jacobian"])
    np.testing.assert_allclose(jac, jac_ad, atol=1e-3)
    eig_ad = np.sort(np.abs(np.linalg.eigvals(jac_ad)))[::-1]
    np.testing.assert_allclose([m["abs"] for m in res["modes"]], eig_ad, atol=2e-3)


def test_unconverged_fixed_point_is_reported(models_dir: Path) -> None:
    res = jacobian_time_constants(ModelRegistry(models_dir).get("tiny-gru"), n_iter=2)
    assert res["fixed_point"]["converged"] is False
    assert res["fixed_point"]["iterations"] == 2
    assert res["fixed_point"]["residual"] > 1e-7


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_n_iter_is_validated(models_dir: Path, bad: object) -> None:
    entry = ModelRegistry(models_dir).get("tiny-gru")
    with pytest.raises(ValueError, match=re.escape(f"n_iter must be an integer >= 1, got {bad!r}")):
        jacobian_time_constants(entry, n_iter=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# LSTM forget gates
# ---------------------------------------------------------------------------------------------------
def test_lstm_forget_gates_reproduce_onnxruntime(models_dir: Path) -> None:
    from bci_stream.dsp.preprocess import Preprocessor

    entry = ModelRegistry(models_dir).get("tiny-lstm")
    rng = np.random.default_rng(0)
    x = (20 * rng.standard_normal((700, 8)) + rng.uniform(-100, 100, 8)).astype(np.float32)  # raw, µV
    res = lstm_forget_time_constants(entry, x)
    assert res["check_max_diff"] <= 1e-4
    # the gates are those of the raw data through the card's preprocessing (the graph's front end):
    # the float64 offline preprocessor and the numpy LSTM over the whole sequence give the same means
    card = entry.card
    z = Preprocessor(card.preprocessing, card.n_chans, card.sfreq).process(x.astype(np.float64))
    zeros = np.zeros((2, 16))
    _, _, f_ref = onnx_lstm.lstm_chunk(onnx_lstm.lstm_layers(entry), z.astype(np.float64), zeros, zeros)
    np.testing.assert_allclose([ly["forget_mean"] for ly in res["layers"]], f_ref.mean(axis=1), atol=1e-4)
    assert res["n_samples"] == 700 and res["dt_ms"] == pytest.approx(2.0)
    assert len(res["layers"]) == 2
    for layer in res["layers"]:
        tau = np.asarray(layer["tau_ms"], dtype=float)
        assert tau.shape == (16,) and np.isfinite(tau).all() and (tau > 0).all()
        f = np.asarray(layer["forget_mean"])
        assert ((f > 0) & (f < 1)).all()
        pct = [layer["tau_percentiles_ms"][f"p{p}"] for p in (5, 25, 50, 75, 95)]
        assert pct == sorted(pct) and pct[2] == pytest.approx(np.median(tau))


def test_lstm_wrong_gate_layout_is_caught(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = ModelRegistry(models_dir).get("tiny-lstm")
    parse = onnx_lstm.lstm_layers

    def swapped(e):  # read the gates in PyTorch order (i, f, g, o) instead of ONNX order (i, o, f, c)
        layers = parse(e)
        h = e.card.architecture.hidden_size
        perm = np.r_[0:h, 2 * h : 3 * h, h : 2 * h, 3 * h : 4 * h]
        return [{"W": ly["W"][perm], "R": ly["R"][perm], "b": ly["b"][perm]} for ly in layers]

    monkeypatch.setattr(lstm_gates, "lstm_layers", swapped)
    x = np.random.default_rng(1).standard_normal((100, 8)).astype(np.float32)
    with pytest.raises(ModelError, match="the numpy LSTM does not reproduce onnxruntime"):
        lstm_forget_time_constants(entry, x)


def test_lstm_only_call_on_gru_raises(models_dir: Path) -> None:
    entry = ModelRegistry(models_dir).get("tiny-gru")
    msg = ("model 'tiny-gru@1.0.0': forget-gate time constants need an LSTM (architecture.cell 'lstm'), "
           "got cell 'gru'")
    with pytest.raises(ModelError, match=f"^{re.escape(msg)}$"):
        lstm_forget_time_constants(entry, np.zeros((10, 8), dtype=np.float32))


def test_lstm_data_is_validated(models_dir: Path) -> None:
    entry = ModelRegistry(models_dir).get("tiny-lstm")
    with pytest.raises(ValueError, match=re.escape("x must have shape (T >= 1, n_chans=8), got (10, 3)")):
        lstm_forget_time_constants(entry, np.zeros((10, 3)))
    bad = np.zeros((10, 8))
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=re.escape("x must be finite, got 1 NaN/inf values")):
        lstm_forget_time_constants(entry, bad)


# ---------------------------------------------------------------------------------------------------
# report, table, files, CLI entry point
# ---------------------------------------------------------------------------------------------------
def test_inspect_lstm_writes_report_and_figure(models_dir: Path, tmp_path: Path) -> None:
    entry = ModelRegistry(models_dir).get("tiny-lstm")
    report = inspect_model(entry, out_dir=tmp_path / "out")  # default data: 20 s of simulated EEG
    assert report["forget_gates"] is not None and report["data"].startswith("simulated")
    assert report["forget_gates"]["n_samples"] == 10000
    text = format_table(report)
    assert "Jacobian eigenmodes (top 10 by tau; conjugate pairs once)" in text
    assert "|lambda|     tau ms  period ms    freq Hz" in text
    assert "LSTM forget-gate tau per unit" in text
    assert "layer         p5        p25        p50        p75        p95" in text
    saved = _strict_json((tmp_path / "out" / "report.json").read_text())
    assert saved == _strict_json(json.dumps(report))
    png = (tmp_path / "out" / "time_constants.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_run_inspect_gru(models_dir: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_inspect("tiny-gru", models_dir, tmp_path, echo=lines.append) == 0
    text = "\n".join(lines)
    assert text.startswith("model tiny-gru@1.0.0  GRU L2 H16  500 Hz")
    assert "LSTM forget-gate" not in text
    rows = [ln for ln in text.splitlines() if re.match(r"^\s+\d+\s+\d\.\d{5}", ln)]
    assert len(rows) == 10
    report = _strict_json((tmp_path / "report.json").read_text())
    assert report["forget_gates"] is None and len(report["jacobian"]["modes"]) == 32
    taus = [m["tau_ms"] for m in report["jacobian"]["modes"]]
    assert all(isinstance(t, float) for t in taus) and taus == sorted(taus, reverse=True)
    assert (tmp_path / "time_constants.png").is_file()


def test_non_recurrent_model_is_refused(models_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(models_dir / "tiny-gru", tmp_path / "tiny-gru")
    card_path = tmp_path / "tiny-gru" / "model.json"
    card = json.loads(card_path.read_text())
    card["architecture"] = {"family": "csp_lda"}
    card_path.write_text(json.dumps(card))
    entry = ModelRegistry(tmp_path).get("tiny-gru")
    msg = ("model 'tiny-gru@1.0.0': inspect analyses the nets `bci-stream train` makes (architecture.family "
           "'recurrent'), got family 'csp_lda'")
    for call in (jacobian_time_constants, inspect_model,
                 lambda e: lstm_forget_time_constants(e, np.zeros((10, 8), dtype=np.float32))):
        with pytest.raises(ModelError, match=f"^{re.escape(msg)}$"):
            call(entry)
    lines: list[str] = []
    assert run_inspect("tiny-gru", tmp_path, None, echo=lines.append) == 2
    assert lines == [f"error: {msg}"]


def test_run_inspect_unknown_model(models_dir: Path) -> None:
    """Exit 2, as evaluate's refusal; without --models-dir, evaluate's hint too (audit s61train F2)."""
    lines: list[str] = []
    assert run_inspect("nope", models_dir, None, echo=lines.append) == 2
    assert lines and lines[0].startswith("error: model 'nope' not found") and "--models-dir" not in lines[0]
    assert run_inspect("nope", models_dir, None, echo=lines.append, registry_given=False) == 2
    assert lines[1].endswith("; a model calibrated with calibrate --out DIR is in DIR: give --models-dir DIR, or the "
                             "model's folder DIR/NAME as MODEL")


def test_run_inspect_names_a_path_that_is_no_model(models_dir: Path, tmp_path: Path) -> None:
    """A path is never looked up as a registry name: a file that is no model, or a path that does not exist, is
    said to be so (before, both were "model '...' not found in <registry>")."""
    (tmp_path / "notes.txt").write_text("not a model")
    for ref, message in [
        (str(tmp_path / "notes.txt"), f"error: {tmp_path / 'notes.txt'} is a file, not a model: give a model folder "
                                      "(holding model.json), its model.json, or a registry NAME[@VERSION]"),
        (str(tmp_path / "gone"), f"error: {tmp_path / 'gone'} does not exist (a path; a registry name has no '/' "
                                 "and does not start with '.' or '~')"),
        ("./tiny-gru", "error: ./tiny-gru does not exist (a path; a registry name has no '/' and does not start "
                       "with '.' or '~')"),
    ]:
        lines: list[str] = []
        assert run_inspect(ref, models_dir, None, echo=lines.append) == 2
        assert lines == [message]
    lines = []
    assert run_inspect(str(models_dir / "tiny-gru"), tmp_path, None, echo=lines.append) == 0  # a folder: no registry
    assert lines[0].startswith("model tiny-gru@1.0.0")


def test_a_long_memory_lstm_is_inspected(tmp_path: Path) -> None:
    """A forget gate near 1 (bias +9: tau of tens of seconds) lets the cell state grow to hundreds, where float32
    rounding alone passed the absolute 1e-4 the numpy LSTM had to match onnxruntime to: inspect refused the very nets
    it is for, blaming the graph's layout (audit s70model F2). c is now compared relative to its size."""
    import torch

    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(5)
    model = CausalRNN(n_chans=2, n_outputs=2, hidden_size=8, n_layers=1, cell="lstm", head="categorical")
    with torch.no_grad():
        model.rnn.bias_hh_l0[8:16] += 9.0  # torch's gate order i, f, g, o: the forget gate's bias
        model.rnn.weight_ih_l0.mul_(0.01)  # the simulated µV move the gates little
    _export(model, tmp_path, "slow")
    entry = ModelRegistry(tmp_path).get("slow")
    report = inspect_model(entry)
    gates = report["forget_gates"]
    assert gates is not None and "forget_gates_skipped" not in report
    assert gates["check_max_diff"] <= gates["check_tolerance"] == lstm_gates.LSTM_CHECK_TOL
    assert float(np.median(gates["layers"][0]["forget_mean"])) > 0.999  # long memory indeed
    big_c = np.abs(np.asarray(report["jacobian"]["fixed_point"]["state"]["c0"])).max()
    assert big_c > 100, big_c  # the cell state this test is about


def test_an_lstm_below_the_simulators_rate_keeps_its_jacobian(tmp_path: Path) -> None:
    """At 50 Hz there is no simulated data for the forget gates: inspect refused the whole report, asking for data
    its command line cannot take (audit s70model F4). The Jacobian needs none: it is reported, the gates said
    skipped and why."""
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(6)
    model = CausalRNN(n_chans=2, n_outputs=2, hidden_size=8, n_layers=1, cell="lstm", head="categorical")
    export_model(model, tmp_path / "slow-rate", name="slow-rate", version="1.0.0", ch_names=["E0", "E1"], sfreq=50.0,
                 output_labels=["y0", "y1"], preprocessing=PreprocessingConfig(), parity_samples=200)
    said: list[str] = []
    assert run_inspect("slow-rate", tmp_path, tmp_path / "out", said.append) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    why = ("model 'slow-rate@1.0.0' runs at 50 Hz and the built-in simulator needs sfreq >= 60 Hz: no data to run its "
           "forget gates on (inspect_model(entry, data) takes a recording's samples)")
    assert report["forget_gates"] is None and report["forget_gates_skipped"] == why
    assert len(report["jacobian"]["modes"]) == 16  # h and c of 8 units
    assert f"LSTM forget-gate tau: not computed: {why}" in said[0]
    assert f"Forget-gate time constants not computed: {why}" in report["notes"]
