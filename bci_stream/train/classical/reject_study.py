"""Study: does rejecting outlier calibration trials improve the two classical families?

``python -m bci_stream.train.classical.reject_study --out DIR [--jobs 2]``

Labs drop artifact trials before fitting, and CSP is known to be sensitive to them. Here every fit (each
cross-validation fold's training trials) first rejects the trials whose log power is an outlier:
``p = log(trace(C))`` of the preprocessed segment :data:`WINDOW` after the cue on the config's channels, band and
CAR; a trial goes when ``|p - median(p)| > THRESHOLD * 1.4826 * MAD(p)`` over the fold's training trials of all
runs together (:func:`keep_mask`), unless that would leave a class with fewer than :data:`MIN_PER_CLASS` trials
(then nothing goes). Held-out trials are never rejected: every one is scored.

Scored as :mod:`.study` scores a family: leave-one-run-out trial accuracy at 2 s after cue on the calibration runs
of every unit of :data:`.study.CALIBRATION` (test runs never read). Nothing is chosen (the threshold is fixed), so
the gates, written before the run, compare directly: gate 1 (per family) rejection >= :data:`GATE_TRIALS` ahead of
the default without it and behind on no subject; gate 2 (only for a family that passes gate 1) calibrate's average
of 16 with that family's members fitted with rejection >= :data:`GATE_TRIALS` ahead of today's average, behind on no
subject. Writes ``DIR/reject_study.json`` and ``DIR/reject_study.md``.
"""

from __future__ import annotations

import sys

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, Config

WINDOW: tuple[float, float] = (0.5, 2.5)
THRESHOLD = 3.0
MIN_PER_CLASS = 4
GATE_TRIALS = 6
FAMILIES = ("csp_lda", "riemann")


def keep_mask(log_power: np.ndarray, classes: np.ndarray, threshold: float = THRESHOLD,
              min_per_class: int = MIN_PER_CLASS) -> np.ndarray:
    """Which trials to keep: robust z of ``log_power`` within ``threshold``, unless a class would keep fewer than
    ``min_per_class`` (then every trial)."""
    p = np.asarray(log_power, dtype=np.float64)
    med = np.median(p)
    mad = 1.4826 * np.median(np.abs(p - med))
    keep = np.abs(p - med) <= threshold * mad if mad > 0 else np.ones(len(p), dtype=bool)
    classes = np.asarray(classes)
    if any(np.sum(keep & (classes == k)) < min_per_class for k in np.unique(classes)):
        return np.ones(len(p), dtype=bool)
    return keep


def trial_log_power(prep, sel, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """``(log power, class)`` of every trial of ``sel``, in ``sel``'s order (the preprocessed segment
    :data:`WINDOW` after each cue, on ``cfg``'s channels, band and CAR)."""
    _, _, u_runs = prep.filtered(cfg)
    w0, w1 = (int(round(w * prep.sfreq)) for w in WINDOW)
    powers, classes = [], []
    for ri, tr in sel:
        run, u = prep.runs[ri], u_runs[ri]
        for o, k in zip(run.trials.onsets[tr], run.trials.classes[tr]):
            seg = u[o + w0:min(o + w1, len(u))]
            powers.append(np.log(max(float(np.sum(seg * seg)) / max(len(seg), 1), 1e-300)))
            classes.append(k)
    return np.asarray(powers), np.asarray(classes)


def rejecting(prep, sel, cfg: Config):
    """``sel`` without its outlier trials (:func:`keep_mask`)."""
    power, classes = trial_log_power(prep, sel, cfg)
    keep = keep_mask(power, classes)
    out, start = [], 0
    for ri, tr in sel:
        k = keep[start:start + len(tr)]
        start += len(tr)
        if k.any():
            out.append((ri, np.asarray(tr)[k]))
    return out


def fit_rejecting(prep, sel, cfg: Config):
    """Fit ``cfg``'s family (:func:`.fit.fit`) on ``sel`` without its outlier trials."""
    from bci_stream.train.classical.fit import fit

    return fit(prep, rejecting(prep, sel, cfg), cfg)


def run_unit(unit: str) -> dict:
    """LORO correct on ``unit``: each family's default and calibrate's average of 16, with and without
    rejection, and how many training trials the rejection dropped per fold."""
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.ensemble import ensemble_cv
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    folds, _ = make_folds(prep)
    correct: dict[str, dict[str, int]] = {}
    members: dict[str, dict[bool, list]] = {}
    dropped: dict[str, list[int]] = {}
    for family, base in zip(FAMILIES, (DEFAULT_CSP, DEFAULT_RIEMANN)):
        correct[family] = cross_validate(prep, base, folds).counts()
        correct[f"{family}+reject"] = cross_validate(prep, base, folds, fit_fn=fit_rejecting).counts()
        dropped[family] = [sum(len(t) for _, t in f.train) - sum(len(t) for _, t in rejecting(prep, f.train, base))
                           for f in folds]
        cands = candidates(prep, family, channels_fixed=False)
        members[family] = {False: [cross_validate(prep, c, folds) for c in cands],
                           True: [cross_validate(prep, c, folds, fit_fn=fit_rejecting) for c in cands]}
    correct["ensemble"] = ensemble_cv(members["csp_lda"][False] + members["riemann"][False]).counts()
    for family, other in zip(FAMILIES, reversed(FAMILIES)):
        correct[f"ensemble[{family}+reject]"] = ensemble_cv(members[family][True] + members[other][False]).counts()
    n = ensemble_cv(members["csp_lda"][False]).n_trials
    print(f"{unit}: " + ", ".join(f"{k} {v[f'{DECISION_TIME:g}']}" for k, v in correct.items())
          + f"; dropped per fold {dropped}", file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": n, "correct": correct, "dropped": dropped}


def gate(rows: list[dict]) -> dict:
    """Gate 1 per family (rejection vs none) and, where it passes, gate 2 (the average of 16)."""
    from bci_stream.train.classical.study import gate_against

    out = {}
    for family in FAMILIES:
        g1 = gate_against(rows, f"{family}+reject", (family,), GATE_TRIALS)
        g2 = gate_against(rows, f"ensemble[{family}+reject]", ("ensemble",), GATE_TRIALS)
        out[family] = {"gate1": g1, "gate2": g2 if g1["passes"] else None, "gate2_for_information": g2}
    return out


def markdown(rows: list[dict], g: dict) -> str:
    from bci_stream.train.classical.study import gate_verdict

    key = f"{DECISION_TIME:g}"
    cols = [c for f in FAMILIES for c in (f, f"{f}+reject")] + ["ensemble"] + [f"ensemble[{f}+reject]"
                                                                               for f in FAMILIES]
    md = ["# Outlier-trial rejection at calibration (LORO on calibration runs, correct at 2 s)", "",
          "| unit | trials | " + " | ".join(cols) + " | training trials dropped per fold (csp_lda; riemann) |",
          "|---" * (len(cols) + 3) + "|"]
    for r in rows:
        d = r["dropped"]
        md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][c][key]) for c in cols)
                  + f" | {d['csp_lda']}; {d['riemann']} |")
    md += ["| **total** | " + str(sum(r["n_trials"] for r in rows)) + " | "
           + " | ".join(f"**{sum(r['correct'][c][key] for r in rows)}**" for c in cols) + " | |", ""]
    for family in FAMILIES:
        fg = g[family]
        md += [f"{family}: gate 1 (rejection ahead by >= {GATE_TRIALS}, behind on no subject): "
               + gate_verdict(fg["gate1"]) + (" Gate 2 (the average): " + gate_verdict(fg["gate2"])
                                              if fg["gate2"] else " Gate 2 not reached."), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.reject_study", doc=__doc__,
                           stem="reject_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
