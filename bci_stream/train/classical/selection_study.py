"""Nested cross-validation study of how ``bci-stream calibrate`` should choose its decoder.

``python -m bci_stream.train.classical.selection_study --out DIR [--jobs 2]``

Uses only the CALIBRATION runs of the study subjects (:data:`.study.CALIBRATION`; test runs are never read).
For every subject and every calibration run ``j`` (outer fold), calibrate's selection is re-run on the other
runs (inner leave-one-run-out over calibrate's candidates of both families) and the pick of each rule of
:mod:`.selection` is fitted on all inner runs and scored on run ``j`` at 2 s after cue. So each rule is judged
the way a user meets it: on a run it did not see. Every pair (candidate rule, family rule) is scored; family
rules also include each family alone and the two-family ensemble (mean of both picks' probabilities). The
combined decoder (:mod:`.combined`, family ``csp_riemann``) is scored as a third option of every family rule
(both combinations, both tie orders) and alone (:func:`score_combined`); and the choice of the rule itself is
checked leave-one-subject-out (:func:`loso_choice`: picked on the other subjects' units, scored on the held-out
unit).

Writes ``DIR/selection_study.json`` (per pair and subject: held-out correct / trials at 2 s),
``DIR/selection_loso.json`` and ``DIR/selection_study.md``; the raw per-candidate results go to ``DIR/raw.pkl`` so
other rules can be scored without refitting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bci_stream.train.classical.combined import COMBINES, combined_cv
from bci_stream.train.classical.combined import FAMILY as COMBINED
from bci_stream.train.classical.configs import DECISION_TIME, config_label
from bci_stream.train.classical.cv import CvResult, Fold, cross_validate
from bci_stream.train.classical.prepared import all_trials
from bci_stream.train.classical.selection import RULE_TIMES, RULES, accuracy, best_index
from bci_stream.train.classical.study import CALIBRATION, calibration_paths, map_jobs, other_subjects, raw_results

FAMILIES = ("csp_lda", "riemann")
TIE_ORDERS: dict[str, tuple[str, ...]] = {"cheap": (*FAMILIES, COMBINED), "combined": (COMBINED, *FAMILIES)}


def _inner_folds(prep, inner: list[int]) -> list[Fold]:
    """The folds ``calibrate`` would make on the runs ``inner`` (:func:`.cv.make_folds`: leave-one-run-out, or
    trial-wise within a single run), as selections of ``prep``'s runs."""
    from bci_stream.train.classical.cv import make_folds
    from bci_stream.train.classical.prepared import Prepared

    folds, _ = make_folds(Prepared([prep.runs[r] for r in inner], prep.labels))

    def remap(sel):
        return [(inner[ri], tr) for ri, tr in sel]
    return [Fold(remap(f.train), remap(f.test)) for f in folds]


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
    return table | score_combined(raw) | score_average(raw)


def _fold_picks(fold: dict, cand_rule: str, combine: str) -> tuple[dict, dict]:
    """Inner and outer CV results of each family's pick, plus the combined family's (:func:`.combined_cv`)."""
    fams = fold["families"]
    picks = {f: fams[f][best_index([r["inner"] for r in rows], cand_rule)] for f, rows in fams.items()}
    inner = {f: picks[f]["inner"] for f in FAMILIES}
    outer = {f: picks[f]["outer"] for f in FAMILIES}
    inner[COMBINED] = combined_cv(inner["csp_lda"], inner["riemann"], combine)
    outer[COMBINED] = combined_cv(outer["csp_lda"], outer["riemann"], combine)
    return inner, outer


def score_combined(raw: list[dict]) -> dict:
    """Held-out (correct, n) at 2 s with the combined family (:mod:`.combined`) among the options.

    Keys ``"cand=R fam=only-csp_riemann/C"`` (always the combined decoder, combination C) and
    ``"cand=R fam=F+csp_riemann/C ties=T"``: the family rule F over the three families, ties broken in the
    order T (``cheap``: csp_lda, riemann, csp_riemann; ``combined``: csp_riemann, csp_lda, riemann).
    """
    table: dict = {}
    for cand_rule in RULES:
        for combine in COMBINES:
            keys = {f"cand={cand_rule} fam=only-{COMBINED}/{combine}": None}
            keys |= {f"cand={cand_rule} fam={fr}+{COMBINED}/{combine} ties={t}": (fr, order)
                     for fr in RULES for t, order in TIE_ORDERS.items()}
            for key, how in keys.items():
                for subj in raw:
                    tot = [0, 0]
                    for fold in subj["outer"]:
                        inner, outer = _fold_picks(fold, cand_rule, combine)
                        fam = COMBINED if how is None else max(
                            how[1], key=lambda f: (RULES[how[0]](inner[f]), -how[1].index(f)))
                        c, n = _acc_at(outer[fam])
                        tot[0] += c
                        tot[1] += n
                    table.setdefault(key, {})[subj["subject"]] = tot
    return table


def score_average(raw: list[dict], family_rule: str = "nll2") -> dict:
    """Held-out (correct, n) at 2 s of averaging candidates instead of picking one (:mod:`.ensemble`).

    ``"avg-all"``: the mean of the class probabilities of every candidate of both families (what calibrate ships by
    default); ``"avg-family"``: the mean over each family's candidates, then ``family_rule`` on the inner CV among
    the two family averages and their mean (ties: csp_lda, riemann, both).
    """
    from bci_stream.train.classical.ensemble import ensemble_cv

    table: dict = {"avg-all": {}, "avg-family": {}}
    for subj in raw:
        tot = {k: [0, 0] for k in table}
        for fold in subj["outer"]:
            fams = fold["families"]
            c, n = _acc_at(ensemble_cv([r["outer"] for f in FAMILIES for r in fams[f]]))
            tot["avg-all"][0] += c
            tot["avg-all"][1] += n
            inner = {f: ensemble_cv([r["inner"] for r in fams[f]]) for f in FAMILIES}
            outer = {f: ensemble_cv([r["outer"] for r in fams[f]]) for f in FAMILIES}
            inner["both"], outer["both"] = (ensemble_cv([d[f] for f in FAMILIES]) for d in (inner, outer))
            order = [*FAMILIES, "both"]
            pick = max(order, key=lambda f: (RULES[family_rule](inner[f]), -order.index(f)))
            c, n = _acc_at(outer[pick])
            tot["avg-family"][0] += c
            tot["avg-family"][1] += n
        for k in table:
            table[k][subj["subject"]] = tot[k]
    return table


def loso_choice(table: dict, keys: list[str] | None = None) -> dict:
    """Leave-one-subject-out choice of a rule: for each subject, the key with the most held-out correct on the
    other subjects (ties: the earlier key), scored on that subject. Returns per subject the key and its
    (correct, n), and the total."""
    keys = list(table) if keys is None else keys
    subjects = sorted(next(iter(table.values())))
    out: dict = {"per_subject": {}, "correct": 0, "n": 0}
    for s in subjects:
        others = other_subjects(subjects, s)
        best = max(keys, key=lambda k: (sum(table[k][o][0] for o in others), -keys.index(k)))
        out["per_subject"][s] = {"key": best, "correct": table[best][s][0], "n": table[best][s][1]}
        out["correct"] += table[best][s][0]
        out["n"] += table[best][s][1]
    return out


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


def loso_markdown(loso: dict) -> str:
    """The leave-one-subject-out choices of :func:`loso_choice` as a table."""
    lines = ["", "## Choosing the rule itself by leave-one-subject-out "
             "(rule picked on the other subjects' units, scored on the held-out unit)",
             "", "| options | " + " | ".join(next(iter(loso.values()))["per_subject"]) + " | correct |",
             "|---|" + "---|" * (len(next(iter(loso.values()))["per_subject"]) + 1)]
    for what, r in loso.items():
        cells = [f"{v['correct']}/{v['n']} (`{v['key']}`)" for v in r["per_subject"].values()]
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {r['correct']}/{r['n']} |")
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
    raw = raw_results(args.out, args.from_raw, lambda: map_jobs(run_subject, subjects, args.jobs))
    table = score(raw)
    (args.out / "selection_study.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    loso = {"all rules": loso_choice(table),
            "rules without the combined family": loso_choice(table, [k for k in table if COMBINED not in k]),
            "combination of the combined family (always combined)": loso_choice(
                table, [k for k in table if f"only-{COMBINED}/" in k])}
    (args.out / "selection_loso.json").write_text(json.dumps(loso, indent=2), encoding="utf-8")
    md = markdown(table) + loso_markdown(loso) + f"\n{time.time() - t0:.0f} s\n"
    (args.out / "selection_study.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
