"""Nested study: should ``bci-stream calibrate`` adapt (:mod:`.adapt`) by default, or offer adaptation as a candidate?

``python -m bci_stream.train.classical.adapt_nested --out DIR --picks DIR/adapt_study.json [--baseline RAW] [--jobs 2]``

Calibration runs only (:data:`.study.CALIBRATION`). As :mod:`.selection_study`: for every subject and every
calibration run ``j`` (outer fold), calibrate's candidates of both families are cross-validated leave-one-run-out
on the other runs (inner) and fitted on them and scored on run ``j`` (outer) — here each candidate also with
the adaptation (method and ``tau_a``) that the leave-one-subject-out choice of :mod:`.adapt_study` made
*without this subject* (``loso_adapt_only``). Then calibrate's rules (candidate ``acc2``, family ``accwin``,
and every other pair of :func:`.selection_study.score`) are scored on three candidate sets:

* ``none``: today's candidates (the baseline: 179 of 225 with the current rules);
* ``adapt``: every candidate adapted (adaptation as the default);
* ``both``: both, the unadapted one first (adaptation as a calibrate candidate chosen by inner CV).

``--baseline`` reuses the unadapted rows of an earlier ``selection_study`` ``raw.pkl`` (same candidates, same
folds) instead of refitting them. Writes ``DIR/adapt_nested.json`` / ``.md`` and ``DIR/raw.pkl``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

from bci_stream.train.classical.adapt import AdaptConfig
from bci_stream.train.classical.adapt_study import adapt_cross_validate
from bci_stream.train.classical.configs import config_label
from bci_stream.train.classical.cv import Fold
from bci_stream.train.classical.prepared import all_trials
from bci_stream.train.classical.selection import RULE_TIMES
from bci_stream.train.classical.selection_study import FAMILIES, _inner_folds, loso_choice, score
from bci_stream.train.classical.study import CALIBRATION, calibration_paths, map_jobs, raw_results

RULE_KEY = "cand=acc2 fam=accwin"  # calibrate's rules today (calibration.CANDIDATE_RULE / FAMILY_RULE)


def run_subject(args: tuple[str, dict[str, tuple[str, float]], bool]) -> dict:
    """Inner and outer CV of every candidate of ``subject`` adapted by ``picks[family] = (method, tau_a)``
    (and unadapted too when ``with_none``)."""
    subject, picks, with_none = args
    from bci_stream.train.classical.calibration import candidates
    from bci_stream.train.classical.calibration_inputs import load_calibration

    prep = load_calibration(calibration_paths(subject), CALIBRATION[subject][1], progress=False)
    n_runs = len(prep.runs)
    out: dict = {"subject": subject, "n_runs": n_runs, "picks": picks, "outer": []}
    for j in range(n_runs):
        inner = [r for r in range(n_runs) if r != j]
        folds = _inner_folds(prep, inner)
        outer_fold = [Fold(all_trials(prep, inner), all_trials(prep, [j]))]
        fams: dict = {}
        for fam in FAMILIES:
            rows = {"none": [], "adapt": []}
            for cfg in candidates(prep, fam, False):
                todo = [("adapt", AdaptConfig(cfg, *picks[fam]))] + ([("none", cfg)] if with_none else [])
                for what, c in todo:
                    rows[what].append({"config": c.label() if what == "adapt" else config_label(c),
                                       "inner": adapt_cross_validate(prep, c, folds, RULE_TIMES),
                                       "outer": adapt_cross_validate(prep, c, outer_fold, RULE_TIMES)})
            fams[fam] = rows
        out["outer"].append({"held_out_run": j, "families": fams})
        print(f"{subject}: outer fold {j + 1}/{n_runs} done", file=sys.stderr, flush=True)
    return out


def candidate_sets(raw: list[dict]) -> dict[str, list[dict]]:
    """``{set name: raw in .selection_study's layout}`` for the sets ``none``, ``adapt``, ``both``."""
    sets: dict[str, list[dict]] = {}
    for name in ("none", "adapt", "both"):
        rows = []
        for subj in raw:
            outer = []
            for fold in subj["outer"]:
                fams = {f: (fold["families"][f]["none"] + fold["families"][f]["adapt"] if name == "both"
                            else fold["families"][f][name]) for f in FAMILIES}
                outer.append({"held_out_run": fold["held_out_run"], "families": fams})
            rows.append({"subject": subj["subject"], "n_runs": subj["n_runs"], "outer": outer})
        sets[name] = rows
    return sets


def markdown(tables: dict, picks: dict) -> str:
    subjects = sorted(next(iter(tables["none"].values())))
    md = ["# Adaptation in calibrate: nested CV on calibration runs (held-out run, correct at 2 s)", "",
          "Adaptation per held-out subject (chosen leave-one-subject-out by adapt_study): "
          + "; ".join(f"{s}: {p}" for s, p in picks.items()), "",
          "| rule pair | candidate set | " + " | ".join(subjects) + " | correct |",
          "|---|---|" + "---|" * (len(subjects) + 1)]
    keys = [RULE_KEY, "cand=acc2 fam=acc2", "cand=acc2 fam=only-csp_lda", "cand=acc2 fam=only-riemann",
            "cand=acc2 fam=ensemble"]
    for k in keys:
        for name, table in tables.items():
            row = table[k]
            md.append(f"| {k} | {name} | " + " | ".join(f"{row[s][0]}/{row[s][1]}" for s in subjects)
                      + f" | {sum(row[s][0] for s in subjects)} |")
    best = {name: max(((sum(v[0] for v in row.values()), k) for k, row in t.items() if "csp_riemann" not in k))
            for name, t in tables.items()}
    md += ["", "Best pair of each set (rules without the combined family, chosen after seeing the outer scores, "
           "so optimistic): " + "; ".join(f"{n}: {c} (`{k}`)" for n, (c, k) in best.items())]
    return "\n".join(md) + "\n"


def loso_sets(tables: dict) -> dict:
    """The rule pair *and* candidate set chosen leave-one-subject-out (:func:`.selection_study.loso_choice`;
    rules without the combined family): per candidate set, and over all sets together (keys ``"set: pair"``)."""
    merged = {f"{name}: {k}": row for name, t in tables.items() for k, row in t.items() if "csp_riemann" not in k}
    out = {name: loso_choice(merged, [k for k in merged if k.startswith(f"{name}: ")]) for name in tables}
    out["any set"] = loso_choice(merged)
    return out


def loso_text(loso: dict) -> str:
    lines = ["", "Rule pair (and set) chosen leave-one-subject-out (picked on 3 subjects, scored on the 4th, at 2 s):",
             ""]
    for what, r in loso.items():
        lines.append(f"* {what}: {r['correct']}/{r['n']} — " + ", ".join(
            f"{s} {v['correct']}/{v['n']} (`{v['key']}`)" for s, v in r["per_subject"].items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--picks", type=Path, required=True, help="adapt_study.json (its loso_adapt_only choices).")
    ap.add_argument("--baseline", type=Path, help="A selection_study raw.pkl with the unadapted rows.")
    ap.add_argument("--subjects", default=",".join(CALIBRATION))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--from-raw", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    subjects = [s for s in args.subjects.split(",") if s]
    study = json.loads(args.picks.read_text(encoding="utf-8"))
    picks = {s: {f: tuple(study["families"][f]["loso_adapt_only"][s]["key"].split("/")) for f in FAMILIES}
             for s in subjects}
    picks = {s: {f: (m, float(t)) for f, (m, t) in p.items()} for s, p in picks.items()}
    t0 = time.time()

    def compute() -> list[dict]:
        raw = map_jobs(run_subject, [(s, picks[s], args.baseline is None) for s in subjects], args.jobs)
        if args.baseline is not None:  # the unadapted rows of an earlier selection_study run (same candidates)
            base = {r["subject"]: r for r in pickle.loads(args.baseline.read_bytes())}
            for subj in raw:
                for fold, bfold in zip(subj["outer"], base[subj["subject"]]["outer"], strict=True):
                    for f in FAMILIES:
                        names = [r["config"].split(" adapt=")[0] for r in fold["families"][f]["adapt"]]
                        if names != [r["config"] for r in bfold["families"][f]]:
                            raise ValueError(f"--baseline must hold the same candidates; {subj['subject']} {f}: "
                                             f"{[r['config'] for r in bfold['families'][f]]} vs {names}")
                        fold["families"][f]["none"] = bfold["families"][f]
        return raw

    raw = raw_results(args.out, args.from_raw, compute)
    tables = {name: score(rows) for name, rows in candidate_sets(raw).items()}
    loso = loso_sets(tables)
    md = markdown(tables, picks) + loso_text(loso) + f"\n{time.time() - t0:.0f} s\n"
    (args.out / "adapt_nested.json").write_text(json.dumps({"picks": picks, "tables": tables, "loso": loso}, indent=1),
                                                encoding="utf-8")
    (args.out / "adapt_nested.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
