"""The residual GRU on CSP+LDA (family ``csp_gru``) on real EEGMMIDB runs: it starts as the classical decoder,
its step graph decodes in the runtime's StepModel like the torch model and the numpy reference, its CV is
scored like the classical one, and ``calibrate`` ships it only when CV says it wins."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from support.common import SUBSET_S001_21CH, subset_file

# real S001 runs, the 21 sensorimotor channels, from the repository's own subset (tests/data)
R05, R06 = subset_file(SUBSET_S001_21CH / "S001R05.edf"), subset_file(SUBSET_S001_21CH / "S001R06.edf")

LABELS = {"T1": "fists", "T2": "feet"}
# a small, fast CSP config on the sensorimotor channels (what matters here is the residual, not the config)
TOL = 1e-4


@pytest.fixture(scope="module")
def fitted():
    """(prep, cfg, csp params fitted on R05's trials) on real S001 R05/R06."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.configs import DEFAULT_CSP, with_
    from bci_stream.train.classical.fit import fit_csp_lda
    from bci_stream.train.classical.prepared import all_trials

    prep = load_calibration([R05, R06], LABELS)
    cfg = with_(DEFAULT_CSP, channels="sensorimotor", n_components=6)
    return prep, cfg, fit_csp_lda(prep, all_trials(prep, [0]), cfg)


def _raw(prep, csp, run: int, n: int | None = None) -> np.ndarray:
    idx = [prep.ch_names.index(c) for c in csp.ch_names]
    return np.ascontiguousarray(prep.runs[run].data[:n, idx], dtype=np.float32)


def _random_residual(csp, inputs: str = "log_power", hidden: int = 8, seed: int = 1):
    """A residual model with torch's random GRU and a non-zero read-out (so the GRU path is exercised)."""
    import torch

    from bci_stream.train.classical.residual import ResidualNet, to_params

    torch.manual_seed(seed)
    m, k = np.asarray(csp.filters).shape[1], len(csp.labels)
    n_in = m if inputs == "log_power" else k
    net = ResidualNet(n_in, k, hidden)
    with torch.no_grad():
        net.out.weight.normal_(0.0, 1.0)
        net.out.bias.normal_(0.0, 0.3)
    rng = np.random.default_rng(seed)
    return net, to_params(net, csp, rng.normal(0, 1, n_in), rng.uniform(0.5, 2.0, n_in), inputs)


def test_at_initialisation_it_is_the_classical_decoder(fitted) -> None:
    import torch

    from bci_stream.train.classical.reference import csp_lda_reference, csp_log_power
    from bci_stream.train.classical.residual import ResidualNet, to_params
    from bci_stream.train.classical.residual_ref import residual_reference

    prep, _, csp = fitted
    x = _raw(prep, csp, 1)
    m, k = np.asarray(csp.filters).shape[1], len(csp.labels)
    net = ResidualNet(m, k, 16)  # random GRU, zero read-out
    z = csp_log_power(csp, x)
    classical = z @ np.asarray(csp.coef).T + np.asarray(csp.intercept)
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(((z - z.mean(0)) / z.std(0)).astype(np.float32))[None],
                        torch.from_numpy(classical)[None])
    assert torch.equal(logits[0], torch.from_numpy(classical))  # exactly: l_t + 0
    params = to_params(net, csp, z.mean(0), z.std(0))
    y_res, y_csp = residual_reference(params, x), csp_lda_reference(csp, x)
    assert np.array_equal(y_res, y_csp)


@pytest.mark.parametrize("inputs", ["log_power", "logits"])
def test_step_graph_matches_torch_and_reference_on_a_real_run(fitted, tmp_path: Path, inputs: str) -> None:
    """The written graph in the runtime's StepModel, one sample at a time and in uneven chunks, against the
    numpy reference and the torch model, over 6000 samples (37.5 s) of a real run."""
    import onnx
    import torch

    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.classical.reference import csp_log_power, softmax
    from bci_stream.train.classical.residual_graph import export_csp_gru
    from bci_stream.train.classical.residual_ref import residual_reference

    prep, _, csp = fitted
    net, params = _random_residual(csp, inputs)
    x = _raw(prep, csp, 1, 6000)
    card = export_csp_gru(params, tmp_path / "m", name="res-test", version="1.0.0", parity_input=x[:2000])
    assert card.architecture.family == "csp_gru" and card.architecture.hidden_size == 8
    assert card.parity is not None and card.parity.max_abs_diff <= TOL
    assert [s.role for s in card.step.states] == ["filter", "estimator", "recurrent"]
    # only standard ONNX operators: onnxruntime alone runs it
    graph = onnx.load(str(tmp_path / "m" / "model.onnx"))
    assert {n.domain for n in graph.graph.node} <= {""} and "GRU" in {n.op_type for n in graph.graph.node}

    entry = ModelRegistry(tmp_path).get("res-test")
    model = StepModel(entry.onnx_path, entry.card)
    y_ref = residual_reference(params, x)
    state = model.new_state()
    y_step = np.concatenate([model.run(x[t:t + 1], state) for t in range(len(x))])
    state, y_chunks, t, rng = model.new_state(), [], 0, np.random.default_rng(0)
    while t < len(x):
        n = int(rng.integers(1, 300))
        y_chunks.append(model.run(x[t:t + n], state))
        t += n
    y_chunks = np.concatenate(y_chunks)
    # the torch model (float32 GRU) over the whole run
    z = csp_log_power(csp, x)
    classical = z @ np.asarray(csp.coef).T + np.asarray(csp.intercept)
    v = z if inputs == "log_power" else classical
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(((v - params.in_mean) / params.in_std).astype(np.float32))[None],
                        torch.from_numpy(classical)[None])
    y_torch = softmax(logits[0].numpy())
    diffs = {"step_vs_ref": np.abs(y_step - y_ref).max(), "chunks_vs_ref": np.abs(y_chunks - y_ref).max(),
             "step_vs_torch": np.abs(y_step - y_torch).max()}
    print(f"csp_gru parity ({inputs}) over {len(x)} real samples: "
          + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    assert max(diffs.values()) <= TOL, diffs
    # the residual is not a no-op here: the output differs from the classical decoder's
    assert np.abs(softmax(classical) - y_ref).max() > 1e-2


def test_two_streams_in_one_call_do_not_mix(fitted, tmp_path: Path) -> None:
    import onnxruntime as ort

    from bci_stream.train.classical.residual_graph import csp_gru_step_graph
    from bci_stream.train.classical.residual_ref import residual_reference

    prep, _, csp = fitted
    _, params = _random_residual(csp, hidden=4, seed=3)
    proto, spec = csp_gru_step_graph(params, max_block=64)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    xa, xb = _raw(prep, csp, 0, 64), _raw(prep, csp, 1, 64)
    feed = {"x": np.stack([xa, xb]), "scale": np.ones((2, 1, xa.shape[1]))}
    for s in spec.states:
        one = np.zeros(s.shape) if s.init == "zeros" else None
        if s.init == "constant":
            one = np.asarray(s.init_value).reshape(s.shape)
        if s.init == "first_sample":  # the steady state for each stream's first sample
            zi = np.asarray(s.init_value)[:, None]
            both = np.stack([zi * xa[0].astype(np.float64), zi * xb[0].astype(np.float64)])
        else:
            both = np.concatenate([one, one], axis=s.batch_axis)
        feed[s.input] = both.astype(s.dtype)
    y = sess.run(["y"], feed)[0]
    np.testing.assert_allclose(y[0], residual_reference(params, xa), atol=TOL)
    np.testing.assert_allclose(y[1], residual_reference(params, xb), atol=TOL)


def test_bad_parameters_are_named(fitted) -> None:
    from dataclasses import replace

    from bci_stream.train.classical.residual_ref import check_residual

    _, _, csp = fitted
    _, params = _random_residual(csp)
    with pytest.raises(ValueError, match=r"in_std must be > 0"):
        check_residual(replace(params, in_std=np.zeros_like(params.in_std)))
    with pytest.raises(ValueError, match=r"out_weight must have shape \(2, 8\), got \(3, 8\)"):
        check_residual(replace(params, out_weight=np.zeros((3, 8))))
    with pytest.raises(ValueError, match=r"inputs must be one of"):
        check_residual(replace(params, inputs="raw"))


def test_cv_is_scored_like_the_classical_cv(fitted) -> None:
    """Same folds, same fits: the classical half equals cv.cross_validate; training starts from (and may keep)
    the classical decoder, judged on held-out training trials only."""
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.residual import ResidualConfig
    from bci_stream.train.classical.residual_cv import cross_validate_residual

    prep, cfg, _ = fitted
    folds, scheme = make_folds(prep)
    assert scheme == "leave-one-run-out over 2 runs"
    res = cross_validate_residual(prep, cfg, folds, ResidualConfig(max_epochs=6, patience=3))
    assert res.classical.acc == cross_validate(prep, cfg, folds).acc
    assert res.residual.n_trials == res.classical.n_trials == sum(len(r.trials) for r in prep.runs)
    assert set(res.residual.acc) == {0.5, 1.0, 2.0, 3.0} and all(0 <= a <= 1 for a in res.residual.acc.values())
    for info in res.fold_info:
        assert 0 <= info["best_epoch"] <= info["epochs_run"] <= 6
        assert info["val_loss_best"] <= info["val_loss_classical"]  # epoch 0 (classical) is a candidate
        assert info["n_val_samples"] > 0 and info["n_train_samples"] > 0
    print("CV S001 R05/R06 acc CSP+LDA", res.classical.acc, "residual", res.residual.acc)


def test_ship_rule() -> None:
    from bci_stream.train.classical.cv import CvResult
    from bci_stream.train.classical.residual_calibrate import decide

    def cv(*acc: float) -> CvResult:
        return CvResult(acc=dict(zip((0.5, 1.0, 2.0, 3.0), acc)), n_trials=30, n_correct={})

    assert decide(cv(0.6, 0.7, 0.8, 0.8), cv(0.6, 0.7, 0.8, 0.9)) == (
        False, "not shipped: CV accuracy at 2 s 0.800 is not higher than CSP+LDA's 0.800")
    assert decide(cv(0.6, 0.7, 0.8, 0.8), cv(0.5, 0.5, 0.9, 0.8))[0] is False  # mean over 0.5-3 s lower
    ok, why = decide(cv(0.6, 0.7, 0.8, 0.8), cv(0.6, 0.7, 0.9, 0.8))
    assert ok and why.startswith("shipped: CV accuracy at 2 s 0.900 > 0.800")


def test_calibrate_reports_the_recurrent_stage(tmp_path: Path) -> None:
    """`calibrate` picking one decoder (--no-average) with the stage on: the report says what the residual GRU
    scored and whether it was shipped; the exported family follows. With --no-recurrent it is not tried."""
    from click.testing import CliRunner

    from bci_stream.cli import main
    from bci_stream.core.registry import ModelRegistry

    # 8 sensorimotor channels and no combined family: fewer classical candidates to cross-validate (the combined
    # family is test_combined's); S001's pick is still CSP+LDA, so the stage runs end to end
    args = ["calibrate", "--no-progress", str(R05), str(R06), "--labels", "T1=fists,T2=feet", "--out", str(tmp_path),
            "--no-average", "--channels", "FC3,FCz,FC4,C3,Cz,C4,CP3,CP4", "--no-combined"]
    res = CliRunner().invoke(main, [*args, "--name", "on"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "on" / "report" / "report.json").read_text())
    rec = report["recurrent"]
    family = ModelRegistry(tmp_path).get("on").card.architecture.family
    assert "recurrent residual on CSP+LDA" in res.output
    if report["chosen_family"] == "csp_lda":
        assert rec["tried"] and set(rec["cv_acc"]) == {"0.5", "1", "2", "3"}
        assert rec["classical_cv_acc"] == report["families"]["csp_lda"]["cv_acc"]
        assert rec["classical_cv_acc_same_folds"] == rec["classical_cv_acc"]
        assert sum(k for k, _ in rec["cv_recall_2s"].values()) == round(rec["cv_acc"]["2"] * rec["cv_n_trials"])
        assert family == ("csp_gru" if rec["shipped"] else "csp_lda")
        shown = "csp_gru" if rec["shipped"] else "csp_lda"  # the shipped decoder's recall (audit s64cal F7)
        assert f"per-class CV recall at 2 s ({shown}): " in res.output
        assert "## Recurrent: residual GRU on CSP+LDA" in (tmp_path / "on" / "report" / "report.md").read_text()
    else:
        assert not rec["tried"] and "the residual GRU builds on CSP+LDA" in rec["why"]
        assert family == report["chosen_family"] == "riemann"
    print("calibrate recurrent stage:", rec["why"])

    res = CliRunner().invoke(main, [*args, "--name", "off", "--no-recurrent"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "off" / "report" / "report.json").read_text())["recurrent"]
    assert rec == {"tried": False, "shipped": False, "rule": rec["rule"], "why": "not tried: --no-recurrent"}
    assert ModelRegistry(tmp_path).get("off").card.architecture.family in ("csp_lda", "riemann")


def test_a_shipped_residual_is_exported_with_its_cv_figures(fitted, tmp_path: Path) -> None:
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.classical.residual_calibrate import RecurrentOutcome

    prep, _, csp = fitted
    _, params = _random_residual(csp)
    outcome = RecurrentOutcome({"config": {"label": "gru H=8"}}, params, {"cv_acc_2s": 0.9})
    assert outcome.shipped
    card = outcome.export(tmp_path / "shipped", "shipped", {"label_map": {"T1": "fists", "T2": "feet"}},
                          {"cv_acc_2s": 0.8, "cv_scheme": "loro"})
    assert card.architecture.family == "csp_gru"
    assert card.metrics == {"cv_acc_2s": 0.9, "cv_scheme": "loro"}
    assert card.training["recurrent"] == {"label": "gru H=8"}
    entry = ModelRegistry(tmp_path).get("shipped")
    model = StepModel(entry.onnx_path, entry.card)
    y = model.run(_raw(prep, csp, 1, 500), model.new_state())
    assert y.shape == (500, 2) and np.allclose(y.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="export needs a shipped residual model"):
        RecurrentOutcome({}).export(tmp_path / "none", "none", {"label_map": {}}, {})


def test_a_final_fit_that_keeps_the_zero_read_out_is_not_shipped(fitted, monkeypatch) -> None:
    """CV favours the GRU, but the final training on all trials early-stops at the initial weights: the model
    would be CSP+LDA at a GRU's cost, so the classical model ships and the report says why."""
    from bci_stream.train.classical import residual, residual_cv
    from bci_stream.train.classical.cv import CvResult
    from bci_stream.train.classical.residual_calibrate import recurrent_stage

    def cv(*acc: float) -> CvResult:
        return CvResult(acc=dict(zip((0.5, 1.0, 2.0, 3.0), acc)), n_trials=30, n_correct={2.0: int(acc[2] * 30)},
                        per_fold=[{2.0: acc[2]}])

    classical, better = cv(0.6, 0.7, 0.8, 0.8), cv(0.6, 0.7, 0.9, 0.8)
    monkeypatch.setattr(residual_cv, "cross_validate_residual",
                        lambda *a, **k: residual_cv.ResidualCv(classical, better, []))
    monkeypatch.setattr(residual, "train_residual", lambda *a, **k: (object(), {"best_epoch": 0, "epochs_run": 8}))
    prep, cfg, csp = fitted
    out = recurrent_stage(prep, [None, None], "csp_lda", cfg, classical, csp, echo=lambda s: None)
    assert not out.shipped and out.report["tried"] and not out.report["shipped"]
    assert out.report["why"].startswith("not shipped: CV favoured it (CV accuracy at 2 s 0.900 > 0.800")
    assert "early stopping kept the initial weights" in out.report["why"]


def test_the_recall_line_is_the_shipped_residuals() -> None:
    """Audit s64cal F7: with the residual GRU shipped, the summary showed the recall of the CSP+LDA it builds on (a
    GRU that answered one class for every trial looked balanced)."""
    from bci_stream.train.classical.calibration_report import recall_line

    report = {"decision_time_s": 2.0, "chosen_family": "csp_lda",
              "families": {"csp_lda": {"cv_recall_2s": {"sq": [39, 79], "rt": [25, 73]}}},
              "recurrent": {"shipped": True, "cv_recall_2s": {"sq": [0, 79], "rt": [71, 73]}}}
    assert recall_line(report) == "per-class CV recall at 2 s (csp_gru): sq 0/79, rt 71/73"
    report["recurrent"]["shipped"] = False
    assert recall_line(report) == "per-class CV recall at 2 s (csp_lda): sq 39/79, rt 25/73"
