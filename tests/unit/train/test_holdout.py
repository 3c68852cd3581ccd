"""The held-out table's totals (:func:`bci_stream.train.classical.holdout.totals_line`): correct trials summed over
the splits from each split's accuracy and trial count, for the calibrated decoder and both epoch baselines."""

from __future__ import annotations

from bci_stream.train.classical.holdout import totals_line


def test_totals_sum_correct_trials_over_the_splits():
    rows = [{"n_test_trials": 30, "test_acc": {"2": 29 / 30}, "epoch_csp_lda": 1.0, "epoch_ts_lr": 0.5},
            {"n_test_trials": 15, "test_acc": {"2": 13 / 15}, "epoch_csp_lda": 14 / 15, "epoch_ts_lr": 0.0}]
    assert totals_line(rows) == ("Total correct at 2 s over 2 split(s), 45 test trials: calibrated **42**, "
                                 "epoch CSP+LDA 44, epoch TS+LR 15.")
