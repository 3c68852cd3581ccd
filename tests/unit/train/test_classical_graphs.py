"""The streaming classical decoders as step graphs, on a real recording (EEGMMIDB S001R06).

Parameters are fitted here in a few lines (CSP by a generalised eigenproblem, LDA and logistic regression
from scikit-learn, the tangent-space reference = the mean whitened covariance), exported with
:mod:`bci_stream.train.classical.export`, loaded through the registry and run with the runtime's
:class:`StepModel`: one sample at a time, in random chunks, as a batch of streams, and across a state
snapshot/restore. The reference everywhere is :mod:`bci_stream.train.classical.reference` (float64
numpy/scipy, eigh for the matrix log). The only tolerance is float32 output rounding plus the matrix log's
interpolation error (<= 1e-8 on features): ``ATOL`` on probabilities.

Data: ``tests/data/eegmmidb/S001/S001R06.edf``, the PhysioNet original shipped with the repository
(``SUBSET_R06`` of ``tests/support/common.py``), so these tests run on a fresh clone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bci_stream.engine.step_model import StepModel
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelRegistry
from bci_stream.dsp.preprocess import PreprocessingConfig
from bci_stream.train.classical import reference as ref
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from support.common import SUBSET_R06, subset_file

pytest.importorskip("onnx", reason="the classical exporters need the train extra (onnx)")
pytest.importorskip("sklearn", reason="the parameters are fitted with scikit-learn (train extra)")

from bci_stream.train.classical.export import export_csp_lda, export_riemann  # noqa: E402
from bci_stream.train.classical.logm_graph import (  # noqa: E402
    LOGM_MAX_CONDITION,
    LOGM_TOL,
    add_logm,
    logm_plan,
    logm_products,
)

EDF = SUBSET_R06
# 16 sensorimotor channels of the 10-10 system (matched to the file's "C3.." spelling by the loader)
CHANNELS = ["FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "CP3", "CP1", "CPz", "CP2"]
ATOL = 1e-5  # on class probabilities (float32 output)
FAMILIES = ["csp_lda", "riemann8", "riemann16"]


# -- fitting (quick, self-contained) ----------------------------------------------------------------------


def _csp(u: np.ndarray, labels: np.ndarray, classes: tuple[int, int], m: int) -> np.ndarray:
    """CSP filters ``[C, m]``: generalised eigenvectors of two class covariances (rank-safe after CAR)."""
    covs = [np.cov(u[labels == k].T) for k in classes]
    w, v = np.linalg.eigh(covs[0] + covs[1])
    keep = w > 1e-9 * w.max()
    white = v[:, keep] / np.sqrt(w[keep])
    d, e = np.linalg.eigh(white.T @ covs[0] @ white)
    idx = np.r_[np.arange(m // 2), np.arange(len(d) - (m - m // 2), len(d))]
    return (white @ e)[:, idx]


def _fit(x: np.ndarray, labels: np.ndarray, ch_names: list[str], sfreq: float, label_names: list[str]) -> dict:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression

    pre = PreprocessingConfig(bandpass=(8.0, 30.0), car=True)
    common = dict(ch_names=ch_names, sfreq=sfreq, preprocessing=pre, labels=list(label_names))
    n_chans, k = len(ch_names), len(label_names)
    train = np.flatnonzero(labels >= 0)[::4]
    u = ref.preprocess64(CspLdaParams(**common, filters=np.eye(n_chans)[:, :1], tau_s=1.0, power_init=np.ones(1),
                                      coef=np.zeros((k, 1)), intercept=np.zeros(k)), x)
    fitted = {}
    filters = _csp(u, labels, (1, 2), 4)
    s = u @ filters
    csp = CspLdaParams(**common, filters=filters, tau_s=1.0, power_init=(s ** 2).mean(axis=0),
                       coef=np.zeros((k, 4)), intercept=np.zeros(k))
    lda = LinearDiscriminantAnalysis().fit(ref.csp_log_power(csp, x)[train], labels[train])
    fitted["csp_lda"] = replace(csp, coef=lda.coef_, intercept=lda.intercept_)
    for name, n, tau_s, shrinkage in (("riemann8", 8, 1.0, 0.0), ("riemann16", 16, 0.5, 0.05)):
        proj = _csp(u, labels, (1, 2), n) if n < n_chans else None  # n = 16: all channels (CAR: rank 15)
        v = u if proj is None else u @ proj
        rp = RiemannParams(**common, projection=proj, tau_s=tau_s, shrinkage=shrinkage, cov_init=v.T @ v / len(v),
                           ref_isqrt=np.eye(n), coef=np.zeros((k, n * (n + 1) // 2)), intercept=np.zeros(k))
        mats = np.concatenate([m for _, m in ref.whitened_covariance_chunks(rp, x)])
        w, vec = np.linalg.eigh(mats[train].mean(axis=0))  # reference point: mean (whitened by I) covariance
        rp = replace(rp, ref_isqrt=(vec / np.sqrt(w)) @ vec.T)
        feats = ref.tangent_features(rp, x)[train]
        mu, sd = feats.mean(axis=0), feats.std(axis=0)  # standardised for a quick fit, folded back below
        lr = LogisticRegression(max_iter=500).fit((feats - mu) / sd, labels[train])
        coef = lr.coef_ / sd
        fitted[name] = replace(rp, coef=coef, intercept=lr.intercept_ - coef @ mu)
    return fitted


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """BLAS on one thread: the matrices here are small, and threads contend badly on a busy machine."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def recording():
    subset_file(EDF)
    from bci_stream.io import load_recording
    from bci_stream.io.labels import eegmmidb_label_map

    return load_recording(EDF, label_map=eegmmidb_label_map(6), ch_names=CHANNELS)


@pytest.fixture(scope="module")
def fitted(recording) -> dict:
    x = recording.data.T.astype(np.float32)
    return _fit(x, recording.labels, recording.ch_names, recording.sfreq, recording.label_names)


@pytest.fixture(scope="module")
def x(recording) -> np.ndarray:
    return np.ascontiguousarray(recording.data.T, dtype=np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fitted) -> Path:
    root = tmp_path_factory.mktemp("classical")
    for name, params in fitted.items():
        fn = export_csp_lda if isinstance(params, CspLdaParams) else export_riemann
        fn(params, root / name, name=name, version="1.0.0", training={"data": str(EDF)}, metrics={"note": "test"})
    return root


@pytest.fixture(scope="module")
def models(exported) -> dict[str, StepModel]:
    registry = ModelRegistry(exported)
    return {name: StepModel(registry.get(name).onnx_path, registry.get(name).card) for name in FAMILIES}


@pytest.fixture(scope="module")
def expected(fitted, x) -> dict[str, np.ndarray]:
    return {name: _reference(params, x) for name, params in fitted.items()}


def _reference(params, x: np.ndarray) -> np.ndarray:
    return (ref.csp_lda_reference if isinstance(params, CspLdaParams) else ref.riemann_reference)(params, x)


# -- export and registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_export_writes_a_card_the_registry_loads(exported, fitted, name):
    entry = ModelRegistry(exported).get(name)  # verifies the sha256 too
    card, params = entry.card, fitted[name]
    assert card.format_version == 2 and card.unit == "microvolts"
    assert card.output.kind == "categorical" and card.output.labels == params.labels
    assert card.ch_names == params.ch_names and card.sfreq == params.sfreq
    assert card.parity is not None and card.parity.max_abs_diff <= 1e-4 and card.parity.n_samples > 0
    states = {s.name: s for s in card.step.states}
    if name == "csp_lda":
        assert card.architecture.family == "csp_lda" and card.architecture.n_components == 4
        est = states["power"]
        assert est.shape == [1, 1, 4] and np.allclose(est.init_value, params.power_init)
    else:
        n = params.cov_init.shape[0]
        assert card.architecture.family == "riemann" and card.architecture.n_dims == n
        assert card.architecture.logm["max_condition"] == LOGM_MAX_CONDITION
        est = states["cov"]
        assert est.shape == [1, 1, n * n] and np.allclose(est.init_value, params.cov_init.ravel())
    assert (est.role, est.init, est.dtype) == ("estimator", "constant", "float64")
    assert states["zf"].role == "filter" and states["zf"].init == "first_sample"


def test_export_refuses_when_parity_fails_and_writes_nothing(fitted, tmp_path):
    # float32 outputs cannot match the float64 reference exactly: a zero tolerance must refuse the export
    with pytest.raises(ModelError, match="differs from the offline reference"):
        export_riemann(fitted["riemann8"], tmp_path / "m", name="m", version="1", parity_tolerance=0.0)
    assert not (tmp_path / "m").exists()


# -- parity on the real recording ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_one_sample_at_a_time_matches_the_reference(models, expected, x, name):
    model = models[name]
    state = model.new_state()
    y = np.concatenate([model.run(x[t:t + 1], state) for t in range(len(x))])
    diff = np.abs(y - expected[name]).max()
    print(f"{name}: max |step - reference| over {len(x)} samples one at a time = {diff:.2e}")
    assert diff <= ATOL
    assert 0.05 < expected[name].max() and expected[name].min() < 0.95  # the decoder does say something


@pytest.mark.parametrize("name", FAMILIES)
def test_random_chunks_match_the_reference(models, expected, x, name):
    model, rng = models[name], np.random.default_rng(1)
    state, ys, t = model.new_state(), [], 0
    while t < len(x):
        size = int(rng.integers(1, 301))  # above max_block (128) run() splits the chunk
        ys.append(model.run(x[t:t + size], state))
        t += size
    diff = np.abs(np.concatenate(ys) - expected[name]).max()
    print(f"{name}: max |chunks 1..300 - reference| = {diff:.2e}")
    assert diff <= ATOL


@pytest.mark.parametrize("name", FAMILIES)
def test_batch_of_three_streams_matches_each_reference(models, fitted, x, name):
    model, params = models[name], fitted[name]
    n_samples = 9000
    streams = np.stack([x[:n_samples], x[6000:6000 + n_samples], x[::-1][:n_samples] * 0.5])
    refs = [_reference(params, s) for s in streams]
    states = [model.new_state() for _ in streams]
    rng, ys, t = np.random.default_rng(2), [], 0
    while t < n_samples:
        size = int(rng.integers(1, model.spec.max_block + 1))
        ys.append(model.step(streams[:, t:t + size], states))
        t += size
    y = np.concatenate(ys, axis=1)
    for b in range(len(streams)):
        diff = np.abs(y[b] - refs[b]).max()
        assert diff <= ATOL, f"stream {b}: max |step - reference| = {diff:.2e}"
    assert np.abs(refs[0] - refs[1]).max() > 0.1  # the streams are really different


@pytest.mark.parametrize("name", FAMILIES)
def test_snapshot_restore_continues_identically(models, x, name):
    model = models[name]
    chunks = np.random.default_rng(3).integers(1, 200, size=400)
    bounds = np.minimum(np.cumsum(np.r_[0, chunks]), 12000)
    state = model.new_state()
    for i in range(100):
        model.run(x[bounds[i]:bounds[i + 1]], state)
    snap = state.snapshot()
    assert set(snap) == {s.name for s in model.spec.states}
    rest = [(bounds[i], bounds[i + 1]) for i in range(100, len(chunks)) if bounds[i] < bounds[i + 1]]
    y_cont = np.concatenate([model.run(x[a:b], state) for a, b in rest])
    fresh = model.new_state()
    fresh.restore(snap)
    y_restored = np.concatenate([model.run(x[a:b], fresh) for a, b in rest])
    np.testing.assert_array_equal(y_restored, y_cont)
    # and the restored stream is not a fresh one
    y_fresh = np.concatenate([model.run(x[a:b], model.new_state()) for a, b in rest[:1]])
    assert not np.array_equal(y_fresh, y_cont[:len(y_fresh)])


# -- the matrix logarithm --------------------------------------------------------------------------------


def _logm_graph(n: int):
    from bci_stream.engine.step_model import make_session
    from bci_stream.train.export.graph import GraphBuilder

    g = GraphBuilder()
    g.add_input("m", np.float64, ["B", "T", n, n])
    out = g.op("Reshape", [add_logm(g, "m", logm_plan(n)), g.op("Shape", ["m"])])
    g.identity(out, "y")
    g.add_output("y", np.float64, ["B", "T", n, n])
    return make_session(g.model("logm").SerializeToString())


@pytest.mark.parametrize("name", ["riemann8", "riemann16"])
def test_graph_logm_matches_eigh_on_real_covariances(fitted, x, name):
    params = fitted[name]
    mats = np.concatenate([m for _, m in ref.whitened_covariance_chunks(params, x)])[::10]
    n = mats.shape[-1]
    exact = ref.logm_spd(mats)
    session = _logm_graph(n)
    y = np.concatenate([session.run(None, {"m": mats[None, i:i + 128]})[0][0] for i in range(0, len(mats), 128)])
    diff = np.abs(y - exact).max()
    cond = np.linalg.cond(mats).max()
    print(f"{name}: logm max |graph - eigh| = {diff:.1e} over {len(mats)} matrices (condition <= {cond:.0f})")
    assert diff <= 1e-6
    assert np.abs(logm_products(mats, logm_plan(n)) - exact).max() <= 1e-6


@pytest.mark.parametrize("n", [4, 8, 16])
def test_logm_products_accuracy_up_to_max_condition(n):
    """Worst case for the trace bound: n - 1 equal large eigenvalues and one small; random bases and scales."""
    rng = np.random.default_rng(n)
    plan = logm_plan(n)
    for cond, bound in ((1.0, LOGM_TOL), (10.0, LOGM_TOL), (LOGM_MAX_CONDITION, 2 * LOGM_TOL),
                        (2 * LOGM_MAX_CONDITION, 3e-3), (100 * LOGM_MAX_CONDITION, 10.0)):
        q, _ = np.linalg.qr(rng.standard_normal((50, n, n)))
        ev = np.ones((50, n)) * 10.0 ** rng.uniform(-4, 4, (50, 1))
        ev[:, 0] /= cond
        ev[25:, 1:] *= rng.uniform(1.0 / cond, 1.0, (25, n - 1))  # and random spectra inside the range
        mats = (q * ev[:, None, :]) @ np.swapaxes(q, 1, 2)
        exact = (q * np.log(ev)[:, None, :]) @ np.swapaxes(q, 1, 2)
        err = np.abs(logm_products(mats, plan) - exact).max()
        assert np.isfinite(err) and err <= bound, f"n={n} condition {cond:g}: error {err:.2e} > {bound:g}"


def test_tangent_features_follow_pyriemann(fitted, x):
    pytest.importorskip("pyriemann")
    try:
        from pyriemann.geometry.tangentspace import tangent_space
    except ImportError:  # pyriemann < 0.12
        from pyriemann.utils.tangentspace import tangent_space

    params = fitted["riemann8"]
    n = params.cov_init.shape[0]
    w = params.ref_isqrt
    c_ref = np.linalg.inv(w @ w)
    head = x[:1200]  # causal: the first samples' features do not depend on later ones
    mats = np.concatenate([m for _, m in ref.whitened_covariance_chunks(params, head)])[1000:]
    covs = np.linalg.inv(w) @ mats @ np.linalg.inv(w)  # R_t
    ours = ref.tangent_features(params, head)[1000:]
    theirs = tangent_space(covs, c_ref, metric="riemann")
    assert theirs.shape == (200, n * (n + 1) // 2)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


# -- parameter checks ------------------------------------------------------------------------------------------


def test_bad_parameters_are_refused_with_their_name(fitted):
    csp, rie = fitted["csp_lda"], fitted["riemann8"]
    cases = [
        (replace(csp, filters=csp.filters[:5]), "filters"),
        (replace(csp, power_init=-csp.power_init), "power_init"),
        (replace(csp, coef=csp.coef[:, :2]), "coef"),
        (replace(csp, tau_s=0.0), "tau_s"),
        (replace(rie, shrinkage=1.5), "shrinkage"),
        (replace(rie, cov_init=-np.eye(8)), "cov_init"),
        (replace(rie, ref_isqrt=np.triu(np.ones((8, 8)))), "ref_isqrt"),
        (replace(rie, labels=rie.labels[:2]), "coef"),
    ]
    for params, word in cases:
        check = ref.check_csp_lda if isinstance(params, CspLdaParams) else ref.check_riemann
        with pytest.raises(ValueError, match=word):
            check(params)


@pytest.mark.parametrize("sfreq", [160.0, 1000.0])
def test_the_parity_check_covers_the_estimators_settling_at_any_rate(fitted, tmp_path, sfreq):
    """Audit s45 (DSP review F4): the export's parity input was 2000 samples at any rate: 12.5 s at 160 Hz, under a
    second at 2048 Hz, before the band-pass and the running estimators (tau_s up to 1 s) settle. It is now 2000 samples
    or 8 s, whichever is longer, and the card says how many."""
    from bci_stream.train.classical.export import synthetic_parity_input

    params = replace(fitted["csp_lda"], sfreq=sfreq)  # the same filters and LDA at another rate: a valid decoder
    n = len(synthetic_parity_input(params))
    assert n == (2000 if sfreq == 160.0 else 8000)
    card = export_csp_lda(params, tmp_path / "fast", name="fast", version="1.0.0")
    assert card.parity.n_samples == n and card.parity.max_abs_diff <= 1e-4
