"""Nested cross-validation study of how ``bci-stream calibrate`` should choose its decoder.

``python -m bci_stream.train.classical.selection_study --out DIR [--jobs 2]``

Uses only the CALIBRATION runs of the study subjects (:data:`.study.CALIBRATION`; test runs are never read).
For every subject and every calibration run ``j`` (outer fold), calibrate's selection is re-run on the other
runs (inner leave-one-run-out over calibrate's candidates of both families) and the pick of each rule of
:mod:`.selection` is fitted on all inner runs and scored on run ``j`` at 2 s after cue. So each rule is judged
the way a user meets it: on a run it did not see. Every pair (candidate rule, family rule) is scored; family
rules also include each family alone and the two-family ensemble (mean of both picks' probabilities).

Writes ``DIR/selection_study.json`` (per pair and subject: held-out correct / trials at 2 s) and
``DIR/selection_study.md``; the raw per-candidate results go to ``DIR/raw.pkl`` so other rules can be
scored without refitting.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, config_label
from bci_stream.train.classical.cv import CvResult, Fold, cross_validate
from bci_stream.train.classical.prepared import all_trials
from bci_stream.train.classical.selection import RULE_TIMES, RULES, accuracy, best_index
from bci_stream.train.classical.study import CALIBRATION, calibration_paths

FAMILIES = ("csp_lda", "riemann")


def _inner_folds(prep, inner: list[int]) -> list[Fold]:
    return [Fold(all_trials(prep, [r for r in inner if r != k]), all_trials(prep, [k])) for k in inner]


def run_subject(subject: str) -> dict:
    """Inner CV and held-out predictions of every candidate for every outer run of ``subject``."""
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration

    prep = load_calibration(calibration_paths(subject), CALIBRATION[subject][1], progress=False)
    n_runs = len(prep.runs)
    out: dict = {"subject": subject, "n_runs": n_runs, "outer": []}
    for j in range(n_runs):
        inner = [r for r in range(n_runs) if r != j]
        folds = _inner_folds(prep, inner)
        outer_fold = [Fold(all_trials(prep, inner), all_trials(prep, [j]))]
        fams = {}
        for fam in FAMILIES:
            rows = []
            for cfg in candidates(prep, fam, False):
                rows.append({"config": config_label(cfg), "inner": cross_validate(prep, cfg, folds, RULE_TIMES),
                             "outer": cross_validate(prep, cfg, outer_fold, RULE_TIMES)})
            fams[fam] = rows
        out["outer"].append({"held_out_run": j, "families": fams})
        print(f"{subject}: outer fold {j + 1}/{n_runs} done", file=sys.stderr, flush=True)
    return out


def _acc_at(res: CvResult, probs: np.ndarray | None = None) -> tuple[int, int]:
    col = [round(t, 6) for t in res.eval_times].index(round(DECISION_TIME, 6))
    p = res.probs if probs is None else probs
    correct = int(round(accuracy(p, res.classes)[col] * len(res.classes)))
    return correct, len(res.classes)


def score(raw: list[dict]) -> dict:
    """Held-out (correct, n) at 2 s per subject for every pair (candidate rule, family rule).

    The family rule is a rule of :data:`.selection.RULES` comparing the two families' picks, ``only-<family>``
    (always that family), or ``ensemble`` (the mean of both picks' probabilities). Keys: ``"cand=R fam=F"``.
    """
    table: dict = {}
    for cand_rule in RULES:
        for fam_rule in [*RULES, *(f"only-{f}" for f in FAMILIES), "ensemble"]:
            key = f"cand={cand_rule} fam={fam_rule}"
            for subj in raw:
                tot = [0, 0]
                for fold in subj["outer"]:
                    fams = fold["families"]
                    picks = {f: best_index([r["inner"] for r in rows], cand_rule) for f, rows in fams.items()}
                    outs = {f: fams[f][picks[f]]["outer"] for f in FAMILIES}
                    if fam_rule == "ensemble":
                        c, n = _acc_at(outs[FAMILIES[0]], np.mean([o.probs for o in outs.values()], axis=0))
                    else:
                        fam = fam_rule.removeprefix("only-") if fam_rule.startswith("only-") else max(
                            FAMILIES, key=lambda f: (RULES[fam_rule](fams[f][picks[f]]["inner"]), -FAMILIES.index(f)))
                        c, n = _acc_at(outs[fam])
                    tot[0] += c
                    tot[1] += n
                table.setdefault(key, {})[subj["subject"]] = tot
    return table


def markdown(table: dict) -> str:
    """Rows sorted by the mean held-out accuracy over subjects (best first)."""
    subjects = sorted(next(iter(table.values())))

    def mean(row: dict) -> float:
        return float(np.mean([row[s][0] / max(row[s][1], 1) for s in subjects]))

    lines = ["# Selection rules, nested CV on calibration runs (held-out run accuracy at 2 s)", "",
             "| candidate rule / family rule | " + " | ".join(subjects) + " | mean | correct |",
             "|---|" + "---|" * (len(subjects) + 2)]
    for key, row in sorted(table.items(), key=lambda kv: -mean(kv[1])):
        cells = [f"{row[s][0]}/{row[s][1]}" for s in subjects]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {mean(row):.3f} | {sum(row[s][0] for s in subjects)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", default=",".join(CALIBRATION))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--from-raw", action="store_true", help="Score DIR/raw.pkl of an earlier run (no refitting).")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    subjects = [s for s in args.subjects.split(",") if s]
    t0 = time.time()
    if args.from_raw:
        raw = pickle.loads((args.out / "raw.pkl").read_bytes())
    elif args.jobs <= 1:
        raw = [run_subject(s) for s in subjects]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            raw = list(pool.map(run_subject, subjects))
    if not args.from_raw:
        (args.out / "raw.pkl").write_bytes(pickle.dumps(raw))
    table = score(raw)
    (args.out / "selection_study.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    md = markdown(table) + f"\n{time.time() - t0:.0f} s\n"
    (args.out / "selection_study.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
