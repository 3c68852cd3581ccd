"""The classic trial-based baselines: CSP + LDA and tangent space + LR on band-passed epochs after the cue.

Band-pass (mne's zero-phase FIR, an offline filter: the baseline sees the epoch as a whole), epochs
``[cue + t0, cue + t1)`` of every trial (the cue ``lead`` samples before its label under a label window:
:mod:`~bci_stream.train.evaluate.metrics`), then either :class:`mne.decoding.CSP` (log-variance features) and
scikit-learn's linear discriminant analysis (:func:`csp_lda`), or pyriemann's OAS covariances, tangent space at
their Riemannian mean and a logistic regression (:func:`ts_lr`). The decision is taken at ``cue + t1``
(e.g. 2.5 s). :func:`reference` scores either per test file and pooled, on the recordings as
:func:`reference_input` gives them: NaN/inf held as the service holds them (a zero-phase filter would spread one NaN
over the whole channel) and the trials overlapping data the file marks bad left out, by calibrate's rule.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from bci_stream.train.evaluate.metrics import find_trials

WINDOW_S = (0.5, 2.5)  #: default epoch after cue (s); the decision is taken at its end


def epochs(raw: np.ndarray, labels: np.ndarray, class_ids: Sequence[int], sfreq: float, band: tuple[float, float],
           window_s: tuple[float, float], lead: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``[n_trials, C, n_times]`` band-passed epochs ``window_s`` after each cue (``lead`` samples before its
    label) and their class ids (trials whose epoch fits in the data)."""
    import mne

    filtered = mne.filter.filter_data(np.asarray(raw, dtype=np.float64), sfreq, band[0], band[1], verbose="error")
    a, b = int(round(window_s[0] * sfreq)), int(round(window_s[1] * sfreq))
    xs, ys = [], []
    for tr in find_trials(labels, class_ids, lead):
        if 0 <= tr.cue + a and tr.cue + b <= filtered.shape[1]:
            xs.append(filtered[:, tr.cue + a : tr.cue + b])
            ys.append(tr.label)
    return np.asarray(xs).reshape(len(xs), filtered.shape[0], b - a), np.asarray(ys, dtype=np.int64)


def csp_filters(parts: Sequence[tuple[np.ndarray, ...]], sfreq: float, class_ids: Sequence[int],
                n_filters: int, *, window_s: tuple[float, float] = (0.5, 2.5), lead: int = 0) -> np.ndarray:
    """``[n_filters, C]`` float32 CSP spatial filters of already band-passed ``(x [C, T], labels [T])`` or
    ``(x, labels, bad [T] bool)`` parts.

    Used to initialise a network's spatial front-end, so the data must be training data only. Classic
    two-class CSP (Ramoser et al. 2000) computed in the data's own rank: after a common average
    reference (and per-channel scaling) the channel covariance is singular, and a full-rank solver
    returns filters with a huge component along the null direction that only amplifies rounding. Here
    the composite covariance is whitened in its non-null subspace, so every filter lies in the signal
    space; filters are taken from both ends of the spectrum (most variance for one class, then the
    other) and scaled to unit output variance on these data. ``bad`` marks samples in bad spans (held NaN/inf and
    the settling after them, data marked bad: ``Sequence.bad``): they are left out of that scaling, and a trial whose
    window holds one is not used. ``window_s`` counts from each cue, ``lead`` samples before its label.
    """
    if len(class_ids) != 2:
        raise ValueError(f"CSP initialisation needs exactly 2 trial classes, got {len(class_ids)}")
    a, b = int(round(window_s[0] * sfreq)), int(round(window_s[1] * sfreq))
    good = [(p[0], p[1], ~p[2] if len(p) > 2 else np.ones(p[0].shape[1], dtype=bool)) for p in parts]
    covs: dict[int, list[np.ndarray]] = {c: [] for c in class_ids}
    for x, labels, ok in good:
        for tr in find_trials(labels, class_ids, lead):
            if 0 <= tr.cue + a and tr.cue + b <= x.shape[1] and ok[tr.cue + a : tr.cue + b].all():
                e = np.asarray(x[:, tr.cue + a : tr.cue + b], dtype=np.float64)
                e = e - e.mean(axis=1, keepdims=True)
                c = e @ e.T
                covs[tr.label].append(c / np.trace(c))
    if any(not v for v in covs.values()):
        from bci_stream.train.config import ConfigError

        raise ConfigError(f"model.spatial_init = 'csp' needs training trials of both classes whose window "
                          f"(evaluation.csp_window_s = {tuple(window_s)} s after the cue) lies inside the recording "
                          f"and outside bad spans; got {[len(v) for v in covs.values()]} per class")
    c1, c2 = (np.mean(covs[c], axis=0) for c in class_ids)
    lam, u = np.linalg.eigh(c1 + c2)
    keep = lam > lam.max() * 1e-9
    whiten = (u[:, keep] / np.sqrt(lam[keep])).T  # [r, C]
    mu, v = np.linalg.eigh(whiten @ c1 @ whiten.T)  # ascending: small = class 2, large = class 1
    order = [int(i) for pair in zip(range(len(mu) - 1, -1, -1), range(len(mu))) for i in pair]
    order = list(dict.fromkeys(order))[: min(n_filters, len(mu))]
    w = v[:, order].T @ whiten  # [F, C]
    cov_all = np.mean([*covs[class_ids[0]], *covs[class_ids[1]]], axis=0)
    w /= np.sqrt(np.einsum("fc,cd,fd->f", w, cov_all, w))[:, None]
    scale = np.sqrt(np.mean([np.mean((w @ x)[:, ok] ** 2, axis=1) for x, _, ok in good if ok.any()], axis=0))
    w /= scale[:, None]
    full = np.zeros((n_filters, w.shape[1]), dtype=np.float32)
    full[: len(w)] = w
    return full


def _stack(parts: Sequence[tuple[np.ndarray, np.ndarray]], sfreq: float, class_ids: Sequence[int],
           band: tuple[float, float], window_s: tuple[float, float], lead: int) -> tuple[np.ndarray, np.ndarray]:
    got = [epochs(r, y, class_ids, sfreq, band, window_s, lead) for r, y in parts]
    return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])


def csp_lda(train: Sequence[tuple[np.ndarray, np.ndarray]], test: Sequence[tuple[np.ndarray, np.ndarray]],
            sfreq: float, class_ids: Sequence[int], *, band: tuple[float, float] = (8.0, 30.0),
            window_s: tuple[float, float] = WINDOW_S, n_components: int = 4, seed: int = 0, lead: int = 0
            ) -> dict[str, Any]:
    """Fit CSP+LDA on the trials of ``train`` (``(raw [C, T] µV, labels [T])`` pairs), test on ``test``; epochs
    ``window_s`` after each cue, ``lead`` samples before its label (:func:`epochs`).

    Returns test accuracy, trial counts, and for reference the 5-fold cross-validated accuracy over the
    training trials (the figure usually quoted for this baseline).
    """
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import Pipeline

    x_tr, y_tr = _stack(train, sfreq, class_ids, band, window_s, lead)
    x_te, y_te = _stack(test, sfreq, class_ids, band, window_s, lead)
    if len(np.unique(y_tr)) < 2:
        raise ValueError(f"CSP+LDA needs training trials of at least 2 classes, got classes {np.unique(y_tr).tolist()}")

    def make() -> Pipeline:
        csp = CSP(n_components=min(n_components, x_tr.shape[1]), reg=None, log=True, norm_trace=False)
        return Pipeline([("csp", csp), ("lda", LinearDiscriminantAnalysis())])

    import mne

    with mne.utils.use_log_level("error"):
        out = _fit_and_score(make, x_tr, y_tr, x_te, y_te, band, window_s, seed)
    return {"method": "CSP+LDA", "n_components": n_components, **out}


def ts_lr(train: Sequence[tuple[np.ndarray, np.ndarray]], test: Sequence[tuple[np.ndarray, np.ndarray]],
          sfreq: float, class_ids: Sequence[int], *, band: tuple[float, float] = (8.0, 30.0),
          window_s: tuple[float, float] = WINDOW_S, seed: int = 0, lead: int = 0) -> dict[str, Any]:
    """As :func:`csp_lda`, with the pyriemann recipe: OAS covariances, tangent space at the Riemannian mean of
    the training covariances, logistic regression."""
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    x_tr, y_tr = _stack(train, sfreq, class_ids, band, window_s, lead)
    x_te, y_te = _stack(test, sfreq, class_ids, band, window_s, lead)
    if len(np.unique(y_tr)) < 2:
        raise ValueError(f"TS+LR needs training trials of at least 2 classes, got classes {np.unique(y_tr).tolist()}")

    def make() -> Pipeline:
        return Pipeline([("cov", Covariances("oas")), ("ts", TangentSpace(metric="riemann")),
                         ("lr", LogisticRegression(max_iter=1000))])

    return {"method": "TS+LR", **_fit_and_score(make, x_tr, y_tr, x_te, y_te, band, window_s, seed)}


def reference_input(d: Mapping[str, Any], span_s: float, bad_events: Sequence[str] = (), cues: Collection[str] = (),
                    scored: Collection[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One loaded recording (``raw`` ``[C, T]``, ``x`` ``[T, C]``, ``labels`` ``[T]`` in the model's classes, ``rec``;
    ``lead``, samples from a cue to its label, default 0) as the epoch references take it, the recording itself left
    untouched.

    * NaN/inf samples are held as the service holds them (nan_policy ``hold``:
      :func:`~bci_stream.train.classical.bad_spans.hold_nonfinite`), on a copy: the zero-phase band-pass of
      :func:`epochs` would spread a single NaN over the whole channel.
    * The trials whose span (cue to cue + ``span_s``, the epoch's end) overlaps data the file marks bad are
      unlabelled, by calibrate's rule (:func:`~bci_stream.train.evaluate.inputs.leave_out_bad_trials`: a NaN/inf
      stretch plus the settling after it, ``bad*`` annotations, discontinuities, ``bad_events`` with the rule
      for one without a duration before its cue of ``cues``), so no epoch holds held or marked values.

    Returns the held ``[C, T]`` data, the labels and the notes (values held, trials left out: how many, why).
    """
    from bci_stream.train.classical.bad_spans import (beyond_limit, hold_nonfinite, limit_for, nonfinite_note,
                                                      nonfinite_stretches)
    from bci_stream.train.evaluate.inputs import Loaded, leave_out_bad_trials

    rec, labels = d["rec"], np.array(d["labels"], copy=True)
    marks = Loaded(rec=rec, raw=d["raw"], x=d["x"], labels=np.array(rec.labels, copy=True),
                   lead=int(d.get("lead", 0)))
    left = leave_out_bad_trials(marks, bad_events, span_s, cues=cues, scored=scored)  # unlabels marks.labels only
    labels[marks.labels < 0] = -1
    held = np.array(np.asarray(d["raw"]).T, dtype=np.float64)  # [T, C], a copy
    limit = limit_for(held)  # None for a file in another unit than it declares
    stretches = nonfinite_stretches(held, limit)
    notes = []
    n_beyond = beyond_limit(held, limit)
    if n := hold_nonfinite(held, limit):
        where = "in the model's channels"
        notes.append("epoch references: " + nonfinite_note(rec.source, n, where, stretches=stretches, sfreq=rec.sfreq,
                                                           n_beyond=n_beyond))
    if left is not None:
        notes.append(f"epoch references: {left['sentence']}")
    return np.ascontiguousarray(held.T), labels, notes


def reference(fit: Any, train: list[dict[str, Any]], tests: list[dict[str, Any]], sfreq: float,
              class_ids: list[int], *, bad_events: Sequence[str] = (), cues: Collection[str] = (),
              scored: Collection[str] | None = None, **opts: Any) -> dict[str, Any]:
    """An epoch baseline (``fit``: :func:`csp_lda` or :func:`ts_lr`) fitted on ``train``, scored per test file
    and pooled (each item a loaded recording: ``raw``, ``x``, ``labels``, ``rec``, read by
    :func:`reference_input`, with ``bad_events`` and ``cues`` as ``evaluate --bad-events`` and the label map give
    them, ``scored`` the trial classes its notes count), with Wilson 95 % intervals; ``notes`` say which values were
    held and which trials left out of the epochs. Epochs count from each cue: ``lead`` (samples from a cue to its
    label) is the recordings' ``lead``."""
    from bci_stream.train.evaluate.metrics import wilson_ci

    span_s = float(opts.get("window_s", WINDOW_S)[1])
    leads = {int(d.get("lead", 0)) for d in [*train, *tests]}
    if len(leads) != 1:
        raise ValueError(f"the recordings must share one label window start (lead, samples); got {sorted(leads)}")
    opts = {**opts, "lead": leads.pop()}
    ready = {id(d): reference_input(d, span_s, bad_events, cues, scored) for d in [*train, *tests]}
    per_file, res = [], {}
    for d in tests:
        res = fit([ready[id(t)][:2] for t in train], [ready[id(d)][:2]], sfreq, class_ids, **opts)
        n = res["n_test_trials"]
        k = int(round(res["test_accuracy"] * n)) if n else 0
        per_file.append({"accuracy": res["test_accuracy"], "correct": k, "n_trials": n, "ci95": wilson_ci(k, n)})
    k, n = sum(r["correct"] for r in per_file), sum(r["n_trials"] for r in per_file)
    keep = ("method", "band_hz", "window_s", "n_components", "decision_time_s", "n_train_trials", "train_cv_accuracy",
            "train_cv_folds")
    return {**{key: res[key] for key in keep if key in res}, "train_files": [str(t["rec"].source) for t in train],
            "per_file": per_file,
            "overall": {"accuracy": k / n if n else None, "correct": k, "n_trials": n, "ci95": wilson_ci(k, n)},
            "notes": list(dict.fromkeys(note for r in ready.values() for note in r[2]))}


def _fit_and_score(make, x_tr, y_tr, x_te, y_te, band, window_s, seed) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    clf = make().fit(x_tr, y_tr)
    out: dict[str, Any] = {
        "band_hz": list(band), "window_s": list(window_s), "decision_time_s": window_s[1],
        "n_train_trials": int(len(y_tr)), "n_test_trials": int(len(y_te)),
        "test_accuracy": float((clf.predict(x_te) == y_te).mean()) if len(y_te) else None,
    }
    n_splits = min(5, int(np.bincount(y_tr).max(initial=0)), int(min(np.bincount(y_tr)[np.unique(y_tr)])))
    if n_splits >= 3:  # 2 trials of a class: a fold's 1 per class is too few to fit LDA (NaN, sklearn's warning)
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        out["train_cv_accuracy"] = float(cross_val_score(make(), x_tr, y_tr, cv=cv).mean())
        out["train_cv_folds"] = n_splits
    return out
