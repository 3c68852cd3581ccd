"""The combined decoder (family ``csp_riemann``): CSP+LDA and tangent space + LR in one step graph.

Fitted on real EEG (``tests/data/eegmmidb/S001-21ch``, R05 and R06, shipped with the repository), exported with
:func:`~bci_stream.train.classical.combined_graph.export_csp_riemann`, loaded through the registry and run with
the runtime's :class:`StepModel` on a run it was not fitted on (R09): one sample at a time and in random chunks
against the float64 numpy reference (:func:`~bci_stream.train.classical.combined.combined_reference`), across a
state snapshot/restore, and in a process where onnx, torch, scikit-learn and mne cannot be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.step_model import StepModel
from bci_stream.train.classical import reference as ref
from bci_stream.train.classical.combined import (
    CombinedConfig,
    CombinedParams,
    check_combined,
    combine_logits,
    combined_cv,
    combined_reference,
)
from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN, with_
from support.calibration_cache import s001_pick
from support.common import SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS
from support.train_data import FISTS_FEET as LABELS, s001_calibration, s001_r09

pytest.importorskip("onnx", reason="the exporter needs the train extra (onnx)")
pytest.importorskip("sklearn", reason="the front-ends are fitted with scikit-learn (train extra)")

from bci_stream.train.classical.combined_graph import export_csp_riemann  # noqa: E402
from bci_stream.train.classical.cv import cross_validate, make_folds  # noqa: E402
from bci_stream.train.classical.fit import fit  # noqa: E402
from bci_stream.train.classical.prepared import all_trials  # noqa: E402

ATOL = 1e-5  # on class probabilities (float32 output, matrix log within 1e-8)
N_SAMPLES = 4000  # 25 s of R09
# variants: the tangent-space front-end on 12 of the 21 channels with its own band (two filter states) and CAR,
# or on the same band (one shared filter state); both combinations
VARIANTS = {"own-band-logmean": ((5.0, 35.0), "logmean"), "own-band-probmean": ((5.0, 35.0), "probmean"),
            "shared-band-logmean": ((8.0, 30.0), "logmean")}


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


@pytest.fixture(scope="module")
def x(prep) -> np.ndarray:
    return s001_r09(prep, N_SAMPLES).astype(np.float32)


def _config(prep, band, combine) -> CombinedConfig:
    subset = tuple(prep.ch_names[:12])
    return CombinedConfig(with_(DEFAULT_CSP, channels="all"),
                          with_(DEFAULT_RIEMANN, channels=subset, band=band, n_dims=8, car=True), combine)


@pytest.fixture(scope="module")
def exported(prep, tmp_path_factory) -> dict[str, tuple[CombinedParams, StepModel, Path]]:
    out = tmp_path_factory.mktemp("combined")
    models = {}
    for name, (band, combine) in VARIANTS.items():
        params = fit(prep, all_trials(prep, [0, 1]), _config(prep, band, combine))
        card = export_csp_riemann(params, out / name, name=name, version="1.0.0")
        assert card.architecture.family == "csp_riemann" and card.step.family == "csp_riemann"
        assert card.parity.max_abs_diff <= 1e-4
        entry = ModelRegistry(out).get(name)
        models[name] = (params, StepModel(entry.onnx_path, entry.card), out)
    return models


def test_card_states_and_channels(exported, prep):
    params, model, _ = exported["own-band-logmean"]
    card = model.card
    assert card.ch_names == prep.ch_names  # the union: CSP on all 21, the tangent space on 12
    assert [s.name for s in card.step.states] == ["zf", "zf_ts", "power", "cov"]
    assert [s.role for s in card.step.states] == ["filter", "filter", "estimator", "estimator"]
    assert card.architecture.model_extra["front_ends"]["riemann"]["ch_names"] == prep.ch_names[:12]
    shared = exported["shared-band-logmean"][1].card
    assert [s.name for s in shared.step.states] == ["zf", "power", "cov"]  # one filter state for both


@pytest.mark.parametrize("name", list(VARIANTS))
def test_step_graph_matches_the_reference_sample_by_sample_and_chunked(exported, x, name):
    params, model, _ = exported[name]
    y_ref = combined_reference(params, x)
    state = model.new_state()
    y_step = np.concatenate([model.run(x[t:t + 1], state) for t in range(len(x))])
    cuts = np.sort(np.random.default_rng(1).choice(np.arange(1, len(x)), 80, replace=False))
    state = model.new_state()
    y_chunk = np.concatenate([model.run(c, state) for c in np.split(x, cuts)])
    d_step, d_chunk = float(np.abs(y_step - y_ref).max()), float(np.abs(y_chunk - y_ref).max())
    print(f"\n{name}: max |y_onnx - y_reference| one sample at a time {d_step:.2e}, in random chunks {d_chunk:.2e} "
          f"({len(x)} samples of real S001R09)")
    assert d_step <= ATOL and d_chunk <= ATOL
    assert np.isfinite(y_step).all()


def test_combination_is_that_of_the_two_families(exported, x):
    """logmean = softmax of the mean log-probability of the two single-family decoders; probmean = the mean."""
    for name in ("own-band-logmean", "own-band-probmean"):
        params, _, _ = exported[name]
        i_csp, i_ts = params.indices()
        p_csp = ref.csp_lda_reference(params.csp, x[:, i_csp])
        p_ts = ref.riemann_reference(params.riemann, x[:, i_ts])
        if params.combine == "logmean":
            want = ref.softmax(0.5 * (np.log(p_csp) + np.log(p_ts)))
        else:
            want = 0.5 * (p_csp + p_ts)
        np.testing.assert_allclose(combined_reference(params, x), want, atol=1e-12)


def test_snapshot_restore_round_trip(exported, x):
    _, model, _ = exported["own-band-logmean"]
    whole = model.run(x[:2000], model.new_state())
    state = model.new_state()
    model.run(x[:1000], state)
    snap = state.snapshot()
    assert set(snap) == {"zf", "zf_ts", "power", "cov"}
    other = model.new_state()
    other.restore(snap)
    np.testing.assert_allclose(model.run(x[1000:2000], other), whole[1000:], atol=1e-6)


def test_decodes_without_onnx_torch_sklearn_mne(exported, x, tmp_path):
    """The runtime-only path: registry + StepModel with the train-only packages made unimportable."""
    _, model, out_dir = exported["own-band-logmean"]
    np.save(tmp_path / "x.npy", x[:500])
    code = textwrap.dedent(f"""
        import sys, json
        for mod in ("onnx", "torch", "sklearn", "mne", "pyriemann"):
            sys.modules[mod] = None
        import numpy as np
        from bci_stream.core.registry import ModelRegistry
        from bci_stream.engine.step_model import StepModel
        e = ModelRegistry({str(out_dir)!r}).get({model.card.name!r})
        m = StepModel(e.onnx_path, e.card)
        x = np.load({str(tmp_path / 'x.npy')!r})
        s = m.new_state()
        y = np.concatenate([m.run(x[:250], s), m.run(x[250:], s)])
        s2 = m.new_state(); s2.restore(s.snapshot())
        print(json.dumps({{"n": len(y), "finite": bool(np.isfinite(y).all()), "y_last": y[-1].tolist()}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n"] == 500 and res["finite"]
    np.testing.assert_allclose(res["y_last"], model.run(x[:500], model.new_state())[-1], atol=1e-6)


def test_combined_cv_equals_combining_the_families_cv(prep):
    folds, _ = make_folds(prep)
    cfg = _config(prep, (5.0, 35.0), "logmean")
    cv_csp = cross_validate(prep, cfg.csp, folds, (1.5, 2.0, 2.5))
    cv_ts = cross_validate(prep, cfg.riemann, folds, (1.5, 2.0, 2.5))
    comb = combined_cv(cv_csp, cv_ts, "logmean")
    want = ref.softmax(0.5 * (np.log(cv_csp.probs) + np.log(cv_ts.probs)))
    np.testing.assert_allclose(comb.probs, want, atol=1e-12)
    hits = want.argmax(-1) == cv_csp.classes[:, None]
    assert comb.n_trials == len(cv_csp.classes) and comb.fold_sizes == cv_csp.fold_sizes
    assert comb.n_correct[2.0] == int(hits[:, 1].sum())
    assert comb.per_fold[0][2.0] == pytest.approx(hits[:cv_csp.fold_sizes[0], 1].mean())
    # fitted on the training folds, the combined params give exactly these held-out probabilities
    fold = folds[0]
    params = fit(prep, fold.train, cfg)
    ri, tr = fold.test[0]
    run = prep.runs[ri]
    at = run.trials.onsets[tr] + int(round(2.0 * prep.sfreq))
    y = combined_reference(params, run.data[:int(at.max()) + 1])[at]
    np.testing.assert_allclose(y, comb.probs[:len(at), 1], atol=1e-9)
    assert combined_cv(cv_csp, cv_ts, "probmean").n_trials == comb.n_trials  # the other combination too
    cv_ts.classes = cv_ts.classes[::-1].copy()
    with pytest.raises(ValueError, match="same trials"):
        combined_cv(cv_csp, cv_ts, "logmean")


def test_bad_parameters_are_named(exported):
    params, _, _ = exported["own-band-logmean"]
    with pytest.raises(ValueError, match="combine must be one of"):
        check_combined(CombinedParams(params.csp, params.riemann, params.ch_names, "median"))
    with pytest.raises(ValueError, match="ch_names must hold every front-end channel"):
        check_combined(CombinedParams(params.csp, params.riemann, params.ch_names[:5], "logmean"))
    with pytest.raises(ValueError, match="combine must be one of"):
        combine_logits(np.zeros((1, 2)), np.zeros((1, 2)), "max")
    with pytest.raises(ValueError, match="x must have shape"):
        combined_reference(params, np.zeros((10, 3)))


def test_calibrate_considers_the_combined_family_by_default(prep, tmp_path, tmp_path_factory):
    """calibrate (combined by default, as the nested study chose): the combined family is CV-scored from the two
    picks' CV (same folds) and the family rule picks among three; the export path of the combined family writes
    a model the registry loads; combined=False leaves it out (checked on a few channels: few candidates).

    The default calibration (``average=False``, no recurrent stage) is shared with test_ensemble.py
    (:func:`support.calibration_cache.s001_pick`)."""
    from bci_stream.train.classical.calibration import CONSIDER_COMBINED, _export, calibrate
    from bci_stream.train.classical.combined import DEFAULT_COMBINE

    assert CONSIDER_COMBINED is True  # the default follows the nested study (seven subject-task units)
    files = [subset_file(SUBSET_S001_21CH / f"S001R{r:02d}.edf") for r in (5, 6)]
    without = calibrate(files, LABELS, "nocomb", tmp_path, progress=False, echo=lambda s: None, recurrent=False,
                        combined=False, average=False, channels=FAST_CHANNELS)
    assert list(without.report["families"]) == ["csp_lda", "riemann"]
    res = s001_pick(tmp_path_factory)
    fams = res.report["families"]
    assert list(fams) == ["csp_lda", "riemann", "csp_riemann"]
    want = combined_cv(res.cv["csp_lda"], res.cv["riemann"], DEFAULT_COMBINE)
    assert fams["csp_riemann"]["cv_acc"]["2"] == want.acc[2.0]
    assert fams["csp_riemann"]["config"].startswith(f"csp_riemann {DEFAULT_COMBINE}")
    assert res.report["chosen_family"] in fams
    params = fit(prep, all_trials(prep, [0, 1]), res.configs["csp_riemann"])
    training = {"label_map": LABELS}
    card = _export(params, "csp_riemann", tmp_path / "forced", "forced", "1.0.0", training, {})
    assert card.architecture.family == "csp_riemann" and card.scoring.decision_time_s == 2.0
    assert ModelRegistry(tmp_path).get("forced").card.step.family == "csp_riemann"
