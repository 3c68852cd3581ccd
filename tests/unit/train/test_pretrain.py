"""Cross-subject pretraining + fine-tuning on one calibration run (issue 14, item 6) on real EEGMMIDB runs.

The repository's subset holds one subject (S001, 21 sensorimotor channels, R05/R06/R09/R10), so the tests
treat its executed runs (R05 -> R09) and its imagined runs (R06 -> R10) as two "subjects": what is checked is
the pipeline (alignment, pretraining, fine-tuning, selection, scoring, report, export), not its accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from support.common import SUBSET_S001_21CH, subset_file

LABELS = {"T1": "fists", "T2": "feet"}
TOL = 1e-4


def _runs(*numbers: int) -> list[Path]:
    return [subset_file(SUBSET_S001_21CH / f"S001R{r:02d}.edf") for r in numbers]


@pytest.fixture(scope="module")
def subjects():
    """Two pseudo-subjects with their front-ends fitted on their calibration runs (R05, R06)."""
    from bci_stream.train.classical.pretrain_data import FrontEndConfig, make_subject, prepare

    fe = FrontEndConfig()
    return {"A": prepare(make_subject("A", "fists_feet", _runs(5, 9), LABELS, 0, [5, 9]), fe),
            "B": prepare(make_subject("B", "fists_feet", _runs(6, 10), LABELS, 0, [6, 10]), fe)}


@pytest.fixture(scope="module")
def pretrained(subjects):
    from bci_stream.train.classical.pretrain import PretrainConfig, pretrain

    a = subjects["A"]
    return pretrain([a], a.zs[0].shape[1], PretrainConfig(max_epochs=3, patience=3))


def test_front_end_aligns_and_standardises_on_the_calibration_run(subjects) -> None:
    from bci_stream.train.classical.pretrain_data import FrontEndConfig, front_end

    b = subjects["B"]
    assert (b.calib, b.test, b.run_numbers) == (0, [1], [6, 10])
    assert len(b.fe.ch_names) == 21 and b.fe.filters.shape == (21, 21)
    np.testing.assert_allclose(b.fe.filters, b.fe.filters.T, atol=1e-12)  # symmetric R^(-1/2): channels keep places
    # without shrinkage, the aligned cue-window covariance of the calibration run is the identity
    cfg = FrontEndConfig(align_shrinkage=0.0)
    fe = front_end(b.prep, b.calib, cfg)
    _, _, u_runs = b.prep.filtered(cfg.csp_config())
    run = b.prep.runs[b.calib]
    segs = [u_runs[b.calib][o:o + 640] @ fe.filters for o in run.trials.onsets]
    cov = np.mean([s.T @ s / len(s) for s in segs], axis=0)
    assert np.abs(cov - np.eye(21)).max() < 1e-6, np.abs(cov - np.eye(21)).max()
    zs = b.zs[b.calib]
    assert zs.dtype == np.float32 and np.abs(zs.mean(axis=0)).max() < 1e-3 and np.abs(zs.std(axis=0) - 1).max() < 1e-3
    assert np.isfinite(b.zs[1]).all() and abs(float(b.zs[1].mean())) < 1.0  # the later run, on the same scale


def test_fine_tuning_starts_from_the_pretrained_weights(subjects, pretrained) -> None:
    import torch

    from bci_stream.train.classical.pretrain import FineTuneConfig, fine_tune, new_net

    pre, info = pretrained
    assert info["subjects"] == ["A"] and 0 <= info["best_epoch"] <= info["epochs_run"] <= 3
    before = {k: v.clone() for k, v in pre.state_dict().items()}
    b = subjects["B"]
    same, fi = fine_tune(pre, b, FineTuneConfig(epochs=0))
    assert not fi["new_head"]  # the task's pretrained head is reused
    assert all(torch.equal(v, same.state_dict()[k]) for k, v in before.items())
    head, _ = fine_tune(pre, b, FineTuneConfig(mode="head", epochs=5))
    hs = head.state_dict()
    assert all(torch.equal(hs[k], v) for k, v in before.items() if k.startswith("gru."))  # GRU kept
    assert not torch.equal(hs["lin.fists_feet.weight"], before["lin.fists_feet.weight"])
    full, fi = fine_tune(pre, b, FineTuneConfig(mode="all", epochs=5))
    fs, fresh = full.state_dict(), new_net(pre.gru.input_size, pre.gru.hidden_size, seed=123).state_dict()
    d_pre = sum(float((fs[k] - before[k]).norm()) for k in fresh)
    d_fresh = sum(float((fs[k] - fresh[k]).norm()) for k in fresh)
    assert 0 < d_pre < 0.2 * d_fresh, (d_pre, d_fresh)  # moved a little, from the pretrained weights
    assert len(fi["loss"]) == 5 and fi["loss"][-1] < fi["loss"][0]
    assert all(torch.equal(v, pre.state_dict()[k]) for k, v in before.items())  # the pretrained net is untouched
    with pytest.raises(ValueError, match=r"mode must be 'head' or 'all', got 'gru'"):
        fine_tune(pre, b, FineTuneConfig(mode="gru"))


def test_tasks_share_the_gru_with_a_head_each(subjects) -> None:
    """Pretraining across tasks: one GRU, a head per task; a task never pretrained gets a zero head."""
    from dataclasses import replace

    import torch

    from bci_stream.train.classical.pretrain import FineTuneConfig, PretrainConfig, fine_tune, pretrain

    other = replace(subjects["A"], name="A2", task="other_task")
    net, _ = pretrain([subjects["A"], other], 21, PretrainConfig(max_epochs=1))
    assert sorted(net.lin) == ["fists_feet", "other_task"]
    unseen = replace(subjects["B"], task="new_task")
    ft, info = fine_tune(net, unseen, FineTuneConfig(mode="head", epochs=0))
    assert info["new_head"] and float(ft.lin["new_task"].weight.detach().abs().sum()) == 0.0
    assert torch.equal(ft.gru.weight_hh_l0, net.gru.weight_hh_l0)


def test_export_decodes_equal_to_the_torch_reference(subjects, pretrained, tmp_path: Path) -> None:
    """The fine-tuned model as a csp_gru step graph in the runtime's StepModel (sample by sample and in uneven
    chunks) against the torch model and the numpy reference, on 3000 real samples of B's test run."""
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.classical.pretrain import FineTuneConfig, fine_tune, predict_run, to_params
    from bci_stream.train.classical.pretrain_data import FrontEndConfig
    from bci_stream.train.classical.residual_graph import export_csp_gru
    from bci_stream.train.classical.residual_ref import residual_reference

    b = subjects["B"]
    net, _ = fine_tune(pretrained[0], b, FineTuneConfig(epochs=5))
    params = to_params(net, b, FrontEndConfig())
    idx = [b.prep.ch_names.index(c) for c in params.csp.ch_names]
    x = np.ascontiguousarray(b.prep.runs[1].data[:3000, idx], dtype=np.float32)
    card = export_csp_gru(params, tmp_path / "ft", name="ft", version="1.0.0", parity_input=x[:1000])
    assert card.architecture.family == "csp_gru" and card.parity.max_abs_diff <= TOL
    model = StepModel(ModelRegistry(tmp_path).get("ft").onnx_path, card)
    state = model.new_state()
    y_step = np.concatenate([model.run(x[t:t + 1], state) for t in range(len(x))])
    state, chunks, t, rng = model.new_state(), [], 0, np.random.default_rng(0)
    while t < len(x):
        n = int(rng.integers(1, 400))
        chunks.append(model.run(x[t:t + n], state))
        t += n
    y_torch = predict_run(net, b.task, b.zs[1][:3000])  # features of the whole run from its first sample: causal
    y_ref = residual_reference(params, x)
    diffs = {"step_vs_torch": np.abs(y_step - y_torch).max(),
             "chunks_vs_torch": np.abs(np.concatenate(chunks) - y_torch).max(),
             "ref_vs_torch": np.abs(y_ref - y_torch).max()}
    print("pretrained+fine-tuned export parity over 3000 real samples:", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert max(diffs.values()) <= TOL, diffs
    assert np.abs(y_torch - 0.5).max() > 1e-2  # not a constant output


def test_study_runs_end_to_end_and_writes_the_report(subjects, tmp_path: Path) -> None:
    from bci_stream.train.classical.pretrain import FineTuneConfig, PretrainConfig
    from bci_stream.train.classical.pretrain_report import render, write_report
    from bci_stream.train.classical.pretrain_study import Study

    # one epoch of each training: what is checked is the study's plumbing (selection, methods, export, report),
    # not what more epochs would learn (test_fine_tuning_starts_from_the_pretrained_weights trains for longer)
    grid = [FineTuneConfig(scope="all", mode="all", epochs=1), FineTuneConfig(scope="task", mode="head", epochs=1)]
    study = Study(subjects, pcfg=PretrainConfig(max_epochs=1, patience=1), grid=grid, cache_dir=tmp_path / "pre",
                  log=lambda s: None)
    rows = [study.run_target(n, tmp_path / "models") for n in ("A", "B")]
    md = write_report(tmp_path, rows, study, "pretrain_study --out X", 1.0)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["command"] == "pretrain_study --out X" and [r["subject"] for r in rep["targets"]] == ["A", "B"]
    for r in rep["targets"]:
        assert r["pretrained_on"] == (["B"] if r["subject"] == "A" else ["A"])
        assert r["selection"]["inner_subjects"] == [o for o in ("A", "B") if o != r["subject"]]
        assert {"csp_lda", "ts_lr", "pretrained_ft", "scratch_ft", "pretrained_only"} <= set(r["methods"])
        for m in r["methods"].values():
            assert m["n_trials"] == 15 and set(m["acc"]) == {"0.5", "1", "2", "3"}
            for t, a in m["acc"].items():
                lo, hi = m["ci95"][t]
                assert a == m["n_correct"][t] / 15 and lo <= a <= hi
        assert r["methods"]["pretrained_ft"]["max_abs_diff_torch_vs_numpy"] <= TOL
        ex = r["export"]
        assert ex["family"] == "csp_gru" and ex["parity_max_abs_diff"] <= TOL
        assert ex["onnx_vs_numpy_max_abs_diff_test_runs"] <= TOL
        assert ex["onnx_test"]["n_correct"] == r["methods"]["pretrained_ft"]["n_correct"]  # same decisions
    assert rep["pooled"]["csp_lda"]["n_trials"] == 30
    assert "| CSP+LDA | 30 |" in md and "## Inner leave-one-subject-out selection" in md
    assert (tmp_path / "report.md").read_text() == md == render(tmp_path)  # re-rendered from report.json alone
    assert sorted(p.name for p in (tmp_path / "pre").iterdir()) == ["pre-A.pt", "pre-B.pt", "pre-none.pt"]


def test_pretraining_sets_and_bad_options() -> None:
    from bci_stream.train.classical.pretrain_data import SubjectData
    from bci_stream.train.classical.pretrain_study import pretrain_set

    subs = {n: SubjectData(n, t, None, [], 0, []) for n, t in
            (("S001", "ff"), ("S002", "ff"), ("S004", "lr"), ("S005", "lr"))}
    assert pretrain_set("all", "S001", (), subs) == ("S002", "S004", "S005")
    assert pretrain_set("task", "S001", (), subs) == ("S002",)
    assert pretrain_set("all", "S002", ("S001",), subs) == ("S004", "S005")  # inner fold: never the target
    assert pretrain_set("task", "S002", ("S001",), subs) == ()
    with pytest.raises(ValueError, match=r"scope must be 'all' or 'task', got 'any'"):
        pretrain_set("any", "S001", (), subs)


@pytest.mark.parametrize("subjects", ["S004,S005", "S004,S004,S005"])
def test_the_study_command_refuses_fewer_than_three_subjects(subjects, tmp_path: Path, capsys) -> None:
    """With two subjects, each target's inner leave-one-subject-out selection pretrained on nobody and the report
    still credited pretraining (audit s61train F6): refused before any work, naming the option and what it got."""
    from bci_stream.train.classical.pretrain_study import main

    assert main(["--out", str(tmp_path / "study"), "--subjects", subjects]) == 2
    err = capsys.readouterr().err
    assert "--subjects must name at least 3 different subjects" in err and subjects.split(",")[0] in err
    assert not (tmp_path / "study").exists()
