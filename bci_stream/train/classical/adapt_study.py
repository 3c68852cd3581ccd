"""Does unsupervised causal adaptation (:mod:`.adapt`) help on runs the decoder has not seen? Calibration runs only.

``python -m bci_stream.train.classical.adapt_study --out DIR [--jobs 2]``

Per subject of :data:`.study.CALIBRATION` (test runs never read), each family at its cross-subject default
(:data:`.configs.DEFAULT_CSP` / ``DEFAULT_RIEMANN``) without adaptation and with every method of
:data:`.adapt.METHODS` at every ``tau_a`` of :data:`TAUS`, scored by leave-one-run-out CV exactly as
:mod:`.cv` scores (argmax of the streaming output at cue + t, t in 0.5/1/2/3 s and the selection window).
The adaptation time constant (and method) is then chosen leave-one-subject-out: picked on three subjects
(mean accuracy at 2 s, ties: mean over 0.5-3 s, then the longer ``tau_a``), scored on the fourth.

Writes ``DIR/adapt_study.json`` and ``DIR/adapt_study.md``; the per-config CV results go to ``DIR/raw.pkl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bci_stream.train.classical.adapt import METHODS, AdaptConfig, AdaptParams, adapt_outputs_at, fit_adapt
from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, EVAL_TIMES, Config
from bci_stream.train.classical.cv import CvResult, Fold, cross_validate
from bci_stream.train.classical.prepared import Prepared
from bci_stream.train.classical.selection import RULE_TIMES
from bci_stream.train.classical.study import CALIBRATION, calibration_paths, map_jobs, other_subjects, raw_results

TAUS: tuple[float, ...] = (10.0, 30.0, 90.0)


def adapt_cross_validate(prep: Prepared, cfg: Config | AdaptConfig, folds: Sequence[Fold],
                         eval_times: Sequence[float] = RULE_TIMES) -> CvResult:
    """:func:`.cv.cross_validate` for an :class:`~.adapt.AdaptConfig` (a plain config goes to it unchanged)."""
    if not isinstance(cfg, AdaptConfig):
        return cross_validate(prep, cfg, folds, eval_times)
    _, _, u_runs = prep.filtered(cfg.base)

    def predict(_prep: Prepared, params: AdaptParams, _cfg: AdaptConfig, run_idx: int, at: np.ndarray) -> np.ndarray:
        return adapt_outputs_at(params, u_runs[run_idx], at)

    return cross_validate(prep, cfg, folds, eval_times, fit_fn=fit_adapt, predict_fn=predict)


def variants(base: Config) -> list[Config | AdaptConfig]:
    """``base`` unadapted, then every method of its family at every ``tau_a`` of :data:`TAUS`."""
    return [base] + [AdaptConfig(base, m, t) for m in METHODS[base.family] for t in TAUS]


def key(cfg: Config | AdaptConfig) -> str:
    return "none" if not isinstance(cfg, AdaptConfig) else f"{cfg.method}/{cfg.tau_a:g}"


def run_subject(subject: str) -> dict:
    """LORO CV of every variant of both default configs on ``subject``'s calibration runs."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import make_folds

    prep = load_calibration(calibration_paths(subject), CALIBRATION[subject][1], progress=False)
    folds, _ = make_folds(prep)
    out: dict = {}
    for base in (DEFAULT_CSP, DEFAULT_RIEMANN):
        for cfg in variants(base):
            t0 = time.time()
            out[(base.family, key(cfg))] = adapt_cross_validate(prep, cfg, folds)
            print(f"{subject} {base.family} {key(cfg)}: acc@2s {out[(base.family, key(cfg))].acc[DECISION_TIME]:.3f}"
                  f" ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return {"subject": subject, "cv": out}


def _score(raw: list[dict], fam: str, k: str, subjects: Sequence[str]) -> tuple[float, float]:
    cvs = [next(r for r in raw if r["subject"] == s)["cv"][(fam, k)] for s in subjects]
    return (round(float(np.mean([c.acc[DECISION_TIME] for c in cvs])), 9),
            round(float(np.mean([np.mean([c.acc[t] for t in EVAL_TIMES]) for c in cvs])), 9))


def loso(raw: list[dict], fam: str, keys: list[str]) -> dict:
    """Per held-out subject: the key with the best :func:`_score` on the other subjects, and its accuracy."""
    subjects = [r["subject"] for r in raw]
    out = {}
    for s in subjects:
        others = other_subjects(subjects, s)
        best = max(keys, key=lambda k: (_score(raw, fam, k, others), _tau(k)))
        cv = next(r for r in raw if r["subject"] == s)["cv"][(fam, best)]
        out[s] = {"key": best, "correct": cv.n_correct[DECISION_TIME], "n": cv.n_trials,
                  "acc": {f"{t:g}": cv.acc[t] for t in EVAL_TIMES}}
    return out


def _tau(k: str) -> float:
    return float("inf") if k == "none" else float(k.split("/")[1])


def tables(raw: list[dict]) -> dict:
    subjects = [r["subject"] for r in raw]
    result: dict = {"subjects": subjects, "families": {}}
    for fam in ("csp_lda", "riemann"):
        keys = [k for (f, k) in raw[0]["cv"] if f == fam]
        per = {k: {s: {f"{t:g}": next(r for r in raw if r["subject"] == s)["cv"][(fam, k)].acc[t]
                       for t in EVAL_TIMES} | {"correct_2s": next(r for r in raw if r["subject"] == s)["cv"][
                           (fam, k)].n_correct[DECISION_TIME]} for s in subjects} for k in keys}
        result["families"][fam] = {
            "per_key": per,
            "loso_adapt_or_none": loso(raw, fam, keys),
            "loso_adapt_only": loso(raw, fam, [k for k in keys if k != "none"]),
        }
    return result


def markdown(res: dict) -> str:
    subjects = res["subjects"]
    md = ["# Unsupervised causal adaptation: leave-one-run-out CV on calibration runs", "",
          "Accuracy at 0.5 / 1 / 2 / 3 s after cue (argmax of the streaming output), default config of each family.",
          ""]
    for fam, r in res["families"].items():
        md += [f"## {fam}", "", "| adaptation | " + " | ".join(subjects) + " | mean @2 s | correct @2 s |",
               "|---|" + "---|" * (len(subjects) + 2)]
        for k, row in r["per_key"].items():
            cells = [" / ".join(f"{row[s][t]:.2f}" for t in ("0.5", "1", "2", "3")) for s in subjects]
            md.append(f"| {k} | " + " | ".join(cells) + f" | {np.mean([row[s]['2'] for s in subjects]):.3f} | "
                      f"{sum(row[s]['correct_2s'] for s in subjects)} |")
        for what in ("loso_adapt_or_none", "loso_adapt_only"):
            lo = r[what]
            md += ["", f"{what} (picked on 3 subjects, scored on the 4th, at 2 s): "
                   + ", ".join(f"{s} `{v['key']}` {v['correct']}/{v['n']}" for s, v in lo.items())
                   + f"; total {sum(v['correct'] for v in lo.values())}/{sum(v['n'] for v in lo.values())}"]
        md.append("")
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", default=",".join(CALIBRATION))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--from-raw", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    subjects = [s for s in args.subjects.split(",") if s]
    t0 = time.time()
    raw = raw_results(args.out, args.from_raw, lambda: map_jobs(run_subject, subjects, args.jobs))
    res = tables(raw)
    (args.out / "adapt_study.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    md = markdown(res) + f"\n{time.time() - t0:.0f} s\n"
    (args.out / "adapt_study.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
