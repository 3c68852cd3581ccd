"""Study: does leaky integration of the averaged decoder's output beat deciding on its instantaneous output?

``python -m bci_stream.train.classical.output_study --out DIR [--jobs 2]``

Online motor-imagery BCIs often accumulate evidence by smoothing the classifier's output over time (a leaky
integrator of the class probabilities). Here, on the decoder ``calibrate`` ships (:mod:`.ensemble`: the mean of
the class probabilities ``p_t`` of its 16 candidates), per sample::

    y_t = b y_{t-1} + (1 - b) p_t,   b = exp(-1 / (tau_o sfreq)),   y_{-1} = uniform

for each ``tau_o`` of :data:`TAUS` (``0``: no integration, ``y_t = p_t``, today's decoder), each run streamed
from its first sample. Scored as :mod:`.study` scores a family — leave-one-run-out trial accuracy at 2 s after
cue on the calibration runs of every unit of :data:`.study.CALIBRATION` (test runs never read): per held-out run,
calibrate's candidates (:func:`.calibration.candidates`) fitted on the other runs, the held-out run decoded at
every sample. ``tau_o`` is chosen leave-one-subject-out (:func:`loso_choice`: the most correct on the other
subjects' units, ties to the smaller) and scored on the held-out subject's units. The gate (written before the
run): an output integrator joins the step graph only if it is ahead of ``tau_o = 0`` by at least
:data:`GATE_TRIALS` correct trials in total and behind on no subject. Writes ``DIR/output_study.json`` and
``DIR/output_study.md``.
"""

from __future__ import annotations

import sys

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES

TAUS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
GATE_TRIALS = 6


def integrate(p: np.ndarray, tau_o: float, sfreq: float) -> np.ndarray:
    """The leaky integral ``y [T, K]`` of class probabilities ``p [T, K]`` (``tau_o = 0``: ``p`` itself).

    ``y_t = b y_{t-1} + (1 - b) p_t`` with ``b = exp(-1 / (tau_o sfreq))`` and ``y_{-1}`` uniform (causal).
    """
    from bci_stream.train.classical.reference import running_mean, smoothing_factor

    if tau_o < 0:
        raise ValueError(f"tau_o must be >= 0 seconds (0: no integration), got {tau_o}")
    p = np.asarray(p, dtype=np.float64)
    if tau_o == 0:
        return p
    return running_mean(smoothing_factor(tau_o, sfreq), p, np.full(p.shape[1], 1.0 / p.shape[1]))


def method(tau_o: float) -> str:
    """Column name: ``"tau_o=0.5"``."""
    return f"tau_o={tau_o:g}"


def score_prepared(prep, configs) -> tuple[int, dict[str, dict[str, int]]]:
    """LORO (:func:`.cv.make_folds`) trials and correct per ``tau_o`` and evaluation time of the mean of
    ``configs``' class probabilities: per fold every config fitted on the training trials, each test run decoded
    at every sample from its first, integrated, decided at cue + t (trials kept as :func:`.cv.cross_validate`
    keeps them)."""
    from bci_stream.train.classical.cv import make_folds, predict_prepared
    from bci_stream.train.classical.fit import fit

    folds, _ = make_folds(prep)
    correct = {method(t): {f"{e:g}": 0 for e in EVAL_TIMES} for t in TAUS}
    n_trials = 0
    for fold in folds:
        members = [(cfg, fit(prep, fold.train, cfg)) for cfg in configs]
        for ri, tr in fold.test:
            run = prep.runs[ri]
            every = np.arange(run.n_times)
            p = np.mean([predict_prepared(prep, params, cfg, ri, every) for cfg, params in members], axis=0)
            onsets, classes = run.trials.onsets[tr], run.trials.classes[tr]
            keep = onsets + int(round(max(EVAL_TIMES) * prep.sfreq)) < run.n_times
            onsets, classes = onsets[keep], classes[keep]
            n_trials += len(onsets)
            for t in TAUS:
                y = integrate(p, t, prep.sfreq)
                for e in EVAL_TIMES:
                    pred = y[onsets + int(round(e * prep.sfreq))].argmax(axis=1)
                    correct[method(t)][f"{e:g}"] += int((pred == classes).sum())
    return n_trials, correct


def run_unit(unit: str) -> dict:
    """:func:`score_prepared` of calibrate's 16 candidates (both families) on the calibration runs of ``unit``."""
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    configs = candidates(prep, "csp_lda", False) + candidates(prep, "riemann", False)
    n_trials, correct = score_prepared(prep, configs)
    print(f"{unit}: " + ", ".join(f"{k} {v[f'{DECISION_TIME:g}']}" for k, v in correct.items()),
          file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": n_trials, "correct": correct}


def loso_choice(rows: list[dict]) -> dict[str, float]:
    """Per subject: the ``tau_o`` with the most correct at 2 s on the *other* subjects' units (ties: smaller)."""
    from bci_stream.train.classical.study import subject_of

    key = f"{DECISION_TIME:g}"
    out = {}
    for s in dict.fromkeys(subject_of(r["unit"]) for r in rows):
        others = [r for r in rows if subject_of(r["unit"]) != s]
        out[s] = max(TAUS, key=lambda t: (sum(r["correct"][method(t)][key] for r in others), -t))
    return out


def with_loso(rows: list[dict]) -> list[dict]:
    """``rows`` with a ``"loso"`` column: each unit scored with its subject's leave-one-subject-out ``tau_o``."""
    from bci_stream.train.classical.study import subject_of

    choice = loso_choice(rows)
    out = []
    for r in rows:
        t = choice[subject_of(r["unit"])]
        out.append(dict(r, correct=dict(r["correct"], loso=r["correct"][method(t)]), loso_tau=t))
    return out


def gate(rows: list[dict]) -> dict:
    """Totals at 2 s, per subject, and whether the LOSO-chosen ``tau_o`` passes the gate against ``tau_o = 0``."""
    from bci_stream.train.classical.study import gate_against

    loso = with_loso(rows)
    key = f"{DECISION_TIME:g}"
    return dict(gate_against(loso, "loso", (method(0.0),), GATE_TRIALS),
                taus={r["unit"]: r["loso_tau"] for r in loso},
                fixed={method(t): sum(r["correct"][method(t)][key] for r in rows) for t in TAUS})


def markdown(rows: list[dict], g: dict) -> str:
    from bci_stream.train.classical.study import gate_verdict

    key = f"{DECISION_TIME:g}"
    loso = with_loso(rows)
    md = ["# Leaky integration of the averaged decoder's output (LORO on calibration runs, correct at 2 s)", "",
          "| unit | trials | " + " | ".join(f"tau_o {t:g} s" for t in TAUS) + " | LOSO tau_o |",
          "|---" * (len(TAUS) + 3) + "|"]
    for r in loso:
        md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][method(t)][key]) for t in TAUS)
                  + f" | {r['correct']['loso'][key]} ({r['loso_tau']:g} s) |")
    md += [f"| **total** | {g['n']} | " + " | ".join(str(g["fixed"][method(t)]) for t in TAUS)
           + f" | **{g['total']['loso']}** |", "",
           "Correct at every evaluation time, summed over units: "
           + "; ".join(f"{method(t)}: " + ", ".join(f"{e:g} s {sum(r['correct'][method(t)][f'{e:g}'] for r in rows)}"
                                                     for e in EVAL_TIMES) for t in TAUS), "",
           f"Gate (the LOSO tau_o ahead of tau_o = 0 by >= {GATE_TRIALS} and behind on no subject): "
           + gate_verdict(g), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.output_study", doc=__doc__,
                           stem="output_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
