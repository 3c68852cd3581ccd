"""A trial-wise k-fold's decoders take no statistic from the fold's test trials (audit s45 DSP F6).

With one calibration run (or runs too short of a class to leave one out), calibrate's CV is a stratified k-fold over
trials, so a fold's test trials lie in the run its decoder is fitted on. Their classes were never used, but the
initial running power (CSP+LDA) or covariance (tangent space), and the clip bounds drawn from it, were the whole
run's: the test trials' own samples went into their decoder. Now each fold's statistics leave out the spans of its
test trials (cue to the last scored time); leave-one-run-out and the final fit, which hold out no trial of a run
they fit on, are unchanged. Real EEG: S001 R05 (tests/data, 21 channels).
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN, EVAL_TIMES
from bci_stream.train.classical.prepared import Prepared, Run, all_trials
from support.common import SUBSET_S001_21CH, subset_file
from support.train_data import FISTS_FEET

pytest.importorskip("sklearn", reason="the decoders are fitted with scikit-learn (train extra)")

from bci_stream.train.classical.cv import make_folds  # noqa: E402
from bci_stream.train.classical.fit import fit  # noqa: E402


@pytest.fixture(scope="module")
def one_run() -> Prepared:
    from bci_stream.train.classical.calibration_inputs import load_calibration

    return load_calibration([subset_file(SUBSET_S001_21CH / "S001R05.edf")], FISTS_FEET, progress=False)


def _with_test_trials_scaled(prep: Prepared, test, factor: float) -> Prepared:
    """``prep`` with the samples of ``test``'s trials (cue to the last scored time) multiplied by up to ``factor``
    (a Hann taper from 1 to ``factor`` and back: a step would ring through the band-pass into the next trial)."""
    (ri, tr), = test
    run = prep.runs[ri]
    data = run.data.copy()
    span = int(round(max(EVAL_TIMES) * prep.sfreq)) + 1
    for onset in run.trials.onsets[tr]:
        data[onset:onset + span] *= 1 + (factor - 1) * np.hanning(span)[:, None]
    return Prepared([Run(data, run.sfreq, list(run.ch_names), run.trials, run.source)], prep.labels)


@pytest.mark.parametrize("cfg", [DEFAULT_CSP, DEFAULT_RIEMANN], ids=["csp_lda", "riemann"])
def test_a_folds_initial_state_and_clip_do_not_see_its_test_trials(one_run: Prepared, cfg) -> None:
    folds, scheme = make_folds(one_run)
    assert "single run" in scheme
    fold = folds[0]
    base = fit(one_run, fold.train, cfg)
    louder = fit(_with_test_trials_scaled(one_run, fold.test, 10.0), fold.train, cfg)
    init = "power_init" if cfg is DEFAULT_CSP else "cov_init"
    a, b = getattr(base, init), getattr(louder, init)
    # the band-pass's tail after each taper is all that is left (1e-4 here); the whole run's statistics moved 4-fold
    assert np.max(np.abs(b - a)) < 1e-2 * np.max(np.abs(a))


@pytest.mark.parametrize("cfg", [DEFAULT_CSP, DEFAULT_RIEMANN], ids=["csp_lda", "riemann"])
def test_a_fit_on_every_trial_takes_its_statistics_from_the_whole_run(one_run: Prepared, cfg) -> None:
    params = fit(one_run, all_trials(one_run, [0]), cfg)
    from bci_stream.train.classical.fit import stats_rows

    x = np.arange(12.0).reshape(6, 2)
    assert stats_rows(one_run, all_trials(one_run, [0]), 0, x) is x  # nothing held out: the rows themselves
    init = params.power_init if cfg is DEFAULT_CSP else np.diag(params.cov_init)
    assert np.all(np.isfinite(init)) and np.all(init > 0)
