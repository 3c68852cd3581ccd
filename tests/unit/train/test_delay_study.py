"""The delay-embedding study (:mod:`bci_stream.train.classical.delay_study`) on real EEG (tests/data, S001 R05/R06).

The embedding is checked against direct shifts (zeros before a run's start, causal); a fit on the embedded runs
gives each family's parameters and causal probabilities; the embedding is chosen on the other subjects' units
only, and both gates follow their rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical import delay_study as ds  # noqa: E402
from bci_stream.train.classical.params import CspLdaParams, RiemannParams  # noqa: E402
from support.train_data import s001_calibration  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


def test_the_embedding_stacks_delayed_copies_with_zeros_before_the_start():
    u = np.arange(12.0).reshape(6, 2)
    z = ds.embed(u, 3, 2)
    assert z.shape == (6, 6)
    np.testing.assert_array_equal(z[:, :2], u)
    np.testing.assert_array_equal(z[5], [10, 11, 6, 7, 2, 3])
    np.testing.assert_array_equal(z[1], [2, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(ds.embed(u[:4], 3, 2), z[:4])  # causal: later rows change nothing
    assert ds.delay_samples(0.0125, 160.0) == 2 and ds.delay_samples(0.001, 100.0) == 1
    with pytest.raises(ValueError, match="order and delay must be >= 1, got order=0"):
        ds.embed(u, 0, 1)


@pytest.mark.parametrize("base", [DEFAULT_CSP, DEFAULT_RIEMANN], ids=["csp_lda", "riemann"])
def test_a_fit_on_the_embedded_runs_gives_the_family_and_causal_probabilities(prep, base):
    sel = [(0, np.arange(len(prep.runs[0].trials)))]
    cfg = ds.DelayConfig(base, 2, 0.025)
    params = ds.fit_delay(prep, sel, cfg)
    assert isinstance(params, CspLdaParams if base is DEFAULT_CSP else RiemannParams)
    n_chans = len(params.ch_names)
    if base is DEFAULT_CSP:
        assert params.filters.shape[0] == 2 * n_chans
    else:
        assert params.projection.shape[0] == 2 * n_chans
    at = np.array([100, 2000, 5000])
    p = ds.predict_delay(prep, params, cfg, 1, at)
    assert p.shape == (3, 2) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(ds.predict_delay(prep, params, cfg, 1, at[:1]), p[:1], atol=1e-12)


def _row(unit: str, plain: int, by_emb: dict, ens: int = 50, ens_emb: int = 50) -> dict:
    correct = {"csp_lda": {"2": plain}, "riemann": {"2": plain}, "ensemble": {"2": ens}}
    for e in ds.EMBEDDINGS:
        for fam in ds.FAMILIES:
            correct[ds.method(fam, e)] = {"2": by_emb.get(e, plain)}
            correct[f"ensemble[{ds.method(fam, e)}]"] = {"2": ens_emb}
    return {"unit": unit, "n_trials": 60, "correct": correct}


def test_the_embedding_is_chosen_on_the_other_subjects_and_the_gates_follow_their_rules():
    a, b = ds.EMBEDDINGS[0], ds.EMBEDDINGS[4]
    rows = [_row("S001", 40, {a: 50, b: 41}), _row("S001-LR", 40, {a: 50, b: 41}),
            _row("S002", 40, {a: 41, b: 52}), _row("S004", 40, {a: 41, b: 52})]
    loso = {r["unit"]: tuple(r["loso_embedding"]["riemann"]) for r in ds.with_loso(rows)}
    # S001 left out: b wins on S002 + S004; S002 left out: a (141) vs b (134); S004 left out: the same
    assert loso == {"S001": b, "S001-LR": b, "S002": a, "S004": a}
    g = ds.gate(rows)["riemann"]
    assert g["gate1"]["total"]["riemann@loso"] == 41 + 41 + 41 + 41 and not g["gate1"]["passes"]
    assert g["gate2"] is None and tuple(g["chosen_on_all"]) == b  # 186 vs 182 on all units
    good = [_row(u, 40, {a: 50}, 50, 58) for u in ("S001", "S002", "S004")]
    g = ds.gate(good)["csp_lda"]
    assert g["gate1"]["passes"] and g["gate2"]["passes"] and g["gate2"]["margin"] == 24
    assert "Gate 1" in ds.markdown(good, ds.gate(good))
