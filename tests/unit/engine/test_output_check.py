"""``not_probabilities``: what makes a ``categorical`` model's rows no class probabilities, naming the value and the
sample it is at (audit s53cov: only the value-below-0 case was run by the suite; a row whose values are in [0, 1] but
do not sum to 1, as a per-class sigmoid gives, and a value above 1 were not; and the sample named was counted among
the finite rows only, so a NaN row before it (not judged here) shifted it)."""

from __future__ import annotations

import numpy as np

from bci_stream.engine.output_check import not_probabilities

NAN = [np.nan, np.nan, np.nan]


def test_probability_rows_pass_and_nan_rows_are_not_judged():
    assert not_probabilities(np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], NAN])) is None
    assert not_probabilities(np.array([NAN])) is None


def test_a_value_above_one_is_named_with_its_sample():
    y = np.array([[0.2, 0.3, 0.5], [0.0, 1.25, -0.0], [0.1, 0.1, 0.8]])
    assert not_probabilities(y) == "its output has the value 1.25 (sample 1)"


def test_a_row_not_summing_to_one_is_named_with_its_sample():
    """Per-class sigmoids (each value in [0, 1]): the row's sum, its sample and how far it is from 1."""
    y = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.3, 0.3, 0.1]])
    assert not_probabilities(y) == "a row sums to 0.7 (sample 2; 0.3 from 1)"


def test_the_sample_named_counts_the_nan_rows_before_it():
    rows = [NAN, NAN, [0.2, 0.3, 0.5]]
    assert not_probabilities(np.array(rows + [[-0.5, 1.0, 0.5]])) == "its output has the value -0.5 (sample 3)"
    assert not_probabilities(np.array(rows + [[0.0, 2.0, -0.0]])) == "its output has the value 2 (sample 3)"
    assert not_probabilities(np.array(rows + [[0.1, 0.1, 0.1]])) == "a row sums to 0.3 (sample 3; 0.7 from 1)"
