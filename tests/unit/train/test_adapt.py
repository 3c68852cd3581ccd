"""Unsupervised causal adaptation of the classical decoders (bci_stream.train.classical.adapt): numpy reference.

Fitted on real EEG (``tests/data/eegmmidb/S001-21ch`` R05 and R06, shipped with the repository) and run on R09,
which the fit never saw: the adapted decoders are causal (a prefix of a run gives the prefix of the outputs), the
fast path at chosen samples equals the whole-run reference, a session whose amplifier gain changed is brought
back by the adaptation (and stays shifted without it), and the study helpers pick by the rules they state.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.adapt import (
    AdaptConfig,
    adapt_outputs_at,
    adapt_reference,
    adapt_reference_preprocessed,
    adapted_features,
    fit_adapt,
)
from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN, with_
from bci_stream.train.classical.cv import CvResult
from support.train_data import s001_calibration, s001_r09

pytest.importorskip("sklearn", reason="the read-outs are fitted with scikit-learn (train extra)")

from bci_stream.train.classical.adapt_study import adapt_cross_validate, loso  # noqa: E402
from bci_stream.train.classical.cv import make_folds  # noqa: E402
from bci_stream.train.classical.prepared import all_trials  # noqa: E402
from bci_stream.train.classical.reference import preprocess64  # noqa: E402

# unclipped: a gain change is then exactly a shift of the features, which the adaptation is tested to undo (a clip at
# clip_sd calibration RMS is not gain invariant: 3x the gain clips at a third of that)
CSP = with_(DEFAULT_CSP, channels="all", clip_sd=None)
RIEMANN = with_(DEFAULT_RIEMANN, channels="all", n_dims=8, clip_sd=None)
CASES = {"csp-feature": AdaptConfig(CSP, "feature", 10.0), "csp-power": AdaptConfig(CSP, "power", 10.0),
         "riemann-feature": AdaptConfig(RIEMANN, "feature", 10.0),
         "riemann-recentre": AdaptConfig(RIEMANN, "recentre", 10.0)}
N_SAMPLES = 9600  # 60 s of R09: six adaptation time constants


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


@pytest.fixture(scope="module")
def x(prep) -> np.ndarray:
    return s001_r09(prep, N_SAMPLES)


@pytest.fixture(scope="module")
def fitted(prep):
    return {name: fit_adapt(prep, all_trials(prep, [0, 1]), cfg) for name, cfg in CASES.items()}


def test_config_names_the_bad_method_and_time_constant():
    with pytest.raises(ValueError, match=r"method must be one of \('feature', 'power'\) for family 'csp_lda', "
                                         r"got 'recentre'"):
        AdaptConfig(CSP, "recentre", 10.0)
    with pytest.raises(ValueError, match="tau_a must be finite and > 0 seconds, got 0"):
        AdaptConfig(RIEMANN, "recentre", 0.0)
    cfg = AdaptConfig(RIEMANN, "recentre", 30.0)
    assert cfg.family == "riemann" and cfg.band == RIEMANN.band and cfg.label().endswith("adapt=recentre tau_a=30")


@pytest.mark.parametrize("name", list(CASES))
def test_adapted_decoder_is_causal_and_fast_path_matches(fitted, x, name):
    params = fitted[name]
    y = adapt_reference(params, x)
    assert y.shape == (len(x), 2) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-12)
    half = adapt_reference(params, x[:len(x) // 2])  # a prefix gives the prefix: nothing looks ahead
    np.testing.assert_allclose(half, y[:len(x) // 2], rtol=0, atol=1e-12)
    u = preprocess64(params.base, x)
    at = np.array([5, 1600, 4000, 4001, len(x) - 1, 1600])
    np.testing.assert_allclose(adapt_outputs_at(params, u, at), y[at], rtol=0, atol=1e-10)
    assert not np.allclose(y, adapt_reference_preprocessed(
        type(params)(params.base, params.method, params.tau_a * 100, params.init, params.extra), u))


@pytest.mark.parametrize("name", list(CASES))
def test_adaptation_undoes_a_gain_change_that_shifts_the_fixed_decoder(fitted, x, name):
    """The same session recorded with 3x the gain: the adapted features return to those of the original
    (after the transients of tau_a), where the fixed decoder's stay shifted by log(9)."""
    params = fitted[name]
    u = preprocess64(params.base, x)
    f1, f3 = adapted_features(params, u), adapted_features(params, 3.0 * u)
    end = slice(len(x) - 160, len(x))  # the last second, six tau_a after the start
    shifted = np.abs(f3[:160] - f1[:160]).max()  # at the start the adaptation has not caught up yet
    assert shifted > 0.5
    assert np.abs(f3[end] - f1[end]).max() < 0.05 * shifted


def test_cross_validation_of_an_adapted_decoder_scores_every_trial(prep):
    folds, scheme = make_folds(prep)
    assert scheme == "leave-one-run-out over 2 runs"
    cv = adapt_cross_validate(prep, CASES["riemann-recentre"], folds, (0.5, 1.0, 2.0, 3.0))
    n_trials = sum(len(r.trials) for r in prep.runs)
    assert isinstance(cv, CvResult) and cv.n_trials == n_trials and cv.probs.shape == (n_trials, 4, 2)
    assert cv.acc[2.0] == pytest.approx((cv.probs[:, 2].argmax(axis=1) == cv.classes).mean())
    assert cv.acc[2.0] >= 0.7  # fists vs feet of S001: far above chance (0.5) on a run left out


def test_loso_picks_on_the_other_subjects_and_ties_go_to_the_longer_time_constant():
    def cv(acc2: float) -> CvResult:
        return CvResult(acc={0.5: 0.5, 1.0: 0.5, 2.0: acc2, 3.0: 0.5}, n_trials=10,
                        n_correct={t: 5 for t in (0.5, 1.0, 3.0)} | {2.0: int(acc2 * 10)})

    raw = [{"subject": "A", "cv": {("riemann", "none"): cv(0.9), ("riemann", "recentre/10"): cv(0.5),
                                   ("riemann", "recentre/30"): cv(0.5)}},
           {"subject": "B", "cv": {("riemann", "none"): cv(0.5), ("riemann", "recentre/10"): cv(0.8),
                                   ("riemann", "recentre/30"): cv(0.8)}}]
    out = loso(raw, "riemann", ["none", "recentre/10", "recentre/30"])
    assert out["A"]["key"] == "recentre/30" and out["A"]["correct"] == 5  # chosen on B, scored on A
    assert out["B"]["key"] == "none" and out["B"]["correct"] == 5


def test_nested_candidate_sets_keep_the_unadapted_candidates_first():
    from bci_stream.train.classical.adapt_nested import candidate_sets

    fams = {f: {"none": [{"config": f"{f} a"}, {"config": f"{f} b"}],
                "adapt": [{"config": f"{f} a adapt=x"}, {"config": f"{f} b adapt=x"}]} for f in ("csp_lda", "riemann")}
    raw = [{"subject": "S", "n_runs": 2, "outer": [{"held_out_run": 0, "families": fams}]}]
    sets = candidate_sets(raw)
    rows = {name: [r["config"] for r in s[0]["outer"][0]["families"]["riemann"]] for name, s in sets.items()}
    assert rows == {"none": ["riemann a", "riemann b"], "adapt": ["riemann a adapt=x", "riemann b adapt=x"],
                    "both": ["riemann a", "riemann b", "riemann a adapt=x", "riemann b adapt=x"]}
