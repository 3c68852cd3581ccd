"""Cross-subject study of the residual GRU on CSP+LDA: does it beat the classical decoder, and with what settings?

``python -m bci_stream.train.classical.residual_study --out DIR [--jobs 2]``

Data: the CALIBRATION runs of :data:`.study.CALIBRATION` only (S001 R05 R06 R09; S002 R05 R06 R09 R10;
S004/S005 R03 R04 R07 R08); the held-out test runs are never read. Per subject and residual config:
leave-one-run-out CV (:func:`~.residual_cv.cross_validate_residual`) of CSP+LDA with the calibrate default
config (:data:`~.configs.DEFAULT_CSP`) and of the residual GRU on top of it, same folds, trial decision =
argmax of the streaming output at cue + t, for t in 0.5/1/2/3 s.

Selection of the residual hyper-parameters: the config with the best mean accuracy at 2 s over subjects
(ties: mean over 0.5-3 s, then the earlier config); leave-one-subject-out, the selection is redone on the
other three subjects and scored on the held-out one. Results per (subject, config) are cached in
``DIR/cv_cache.json`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, EVAL_TIMES, config_label
from bci_stream.train.classical.residual import ResidualConfig
from bci_stream.train.classical.study import CALIBRATION, calibration_paths, other_subjects


def grid() -> list[ResidualConfig]:
    """Hidden size x GRU inputs (log power, in-sample logits | out-of-fold logits) x loss window; then the
    optimiser (learning rate x weight decay) at H=8, log power, 0.5-4 s."""
    return [ResidualConfig(hidden_size=h, stacking=st, window=w)
            for st, h, w in itertools.product((False, True), (8, 16), ((0.5, 4.0), (1.0, 3.0)))] + [
        ResidualConfig(lr=lr, weight_decay=wd) for lr, wd in ((3e-3, 1e-2), (1e-2, 1e-1), (3e-3, 1e-1))]


def _key(subject: str, rcfg: ResidualConfig) -> str:
    return f"{subject}|{json.dumps(rcfg.as_dict(), sort_keys=True)}"


def evaluate(subject: str, rcfg: ResidualConfig) -> dict:
    """CV of CSP+LDA (default config) and of the residual ``rcfg`` on ``subject``'s calibration runs."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import make_folds
    from bci_stream.train.classical.residual_cv import cross_validate_residual

    prep = load_calibration(calibration_paths(subject), CALIBRATION[subject][1])
    folds, scheme = make_folds(prep)
    t0 = time.time()
    r = cross_validate_residual(prep, DEFAULT_CSP, folds, rcfg)
    return {"subject": subject, "config": rcfg.as_dict(), "label": rcfg.label(), "scheme": scheme,
            "classical": {f"{t:g}": a for t, a in r.classical.acc.items()},
            "residual": {f"{t:g}": a for t, a in r.residual.acc.items()}, "n_trials": r.residual.n_trials,
            "folds": r.fold_info, "seconds": round(time.time() - t0, 1)}


def _score(rows: dict, cfg_i: int, subjects: list[str]) -> tuple[float, float]:
    at2 = float(np.mean([rows[s][cfg_i]["residual"][f"{DECISION_TIME:g}"] for s in subjects]))
    allt = float(np.mean([np.mean(list(rows[s][cfg_i]["residual"].values())) for s in subjects]))
    return at2, allt


def select(rows: dict, n_cfg: int, subjects: list[str]) -> int:
    return max(range(n_cfg), key=lambda i: (_score(rows, i, subjects), -i))


def markdown(res: dict) -> str:
    subjects, cfgs, rows = res["subjects"], res["configs"], res["rows"]
    times = [f"{t:g}" for t in EVAL_TIMES]
    md = ["# Residual GRU on CSP+LDA: cross-subject study (calibration runs only)", "",
          f"CSP+LDA config (calibrate default): `{res['csp_config']}`. Score: leave-one-run-out trial accuracy "
          "(argmax of the streaming output at cue + t).", "",
          "## Per subject: CSP+LDA vs the selected residual GRU (selected on all four subjects)", "",
          f"Selected: `{res['selected_all']['label']}`", "",
          "| subject | model | " + " | ".join(f"@{t} s" for t in times) + " |", "|---|---|" + "---|" * len(times)]
    j = res["selected_all"]["index"]
    for s in subjects:
        for name, key in (("CSP+LDA", "classical"), ("residual GRU", "residual")):
            md.append(f"| {s} | {name} | " + " | ".join(f"{rows[s][j][key][t]:.3f}" for t in times) + " |")
    md += ["", "## Leave-one-subject-out (config selected on the other three, scored on the held-out)", "",
           "| held-out | selected | CSP+LDA @2 s | residual @2 s | CSP+LDA mean 0.5-3 s | residual mean 0.5-3 s |",
           "|---|---|---|---|---|---|"]
    for s, r in res["loso"].items():
        md.append(f"| {s} | `{r['label']}` | {r['classical_2s']:.3f} | {r['residual_2s']:.3f} | "
                  f"{r['classical_mean']:.3f} | {r['residual_mean']:.3f} |")
    m = res["loso_mean"]
    md += [f"| **mean** | | **{m['classical_2s']:.3f}** | **{m['residual_2s']:.3f}** | "
           f"**{m['classical_mean']:.3f}** | **{m['residual_mean']:.3f}** |", "",
           "## Every config (residual acc @2 s per subject; CSP+LDA in the first row)", "",
           "| config | " + " | ".join(subjects) + " | mean @2 s | mean 0.5-3 s |",
           "|---|" + "---|" * (len(subjects) + 2)]
    md.append("| CSP+LDA | " + " | ".join(f"{rows[s][0]['classical']['2']:.3f}" for s in subjects)
              + f" | {np.mean([rows[s][0]['classical']['2'] for s in subjects]):.3f} | "
              f"{np.mean([np.mean(list(rows[s][0]['classical'].values())) for s in subjects]):.3f} |")
    for i, c in enumerate(cfgs):
        sc = _score(rows, i, subjects)
        md.append(f"| `{c}` | " + " | ".join(f"{rows[s][i]['residual']['2']:.3f}" for s in subjects)
                  + f" | {sc[0]:.3f} | {sc[1]:.3f} |")
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bci_stream.train.classical.residual_study",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="Folder for residual_study.json/.md and the cache.")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="Worker processes.")
    p.add_argument("--subjects", default=",".join(CALIBRATION))
    args = p.parse_args(argv)
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    missing = [str(f) for s in subjects for f in calibration_paths(s) if not f.is_file()]
    if missing:
        print(f"error: calibration files missing (set BCI_STREAM_DATA): {missing[:3]}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    cache_path = args.out / "cv_cache.json"
    cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.is_file() else {}
    cfgs = grid()
    todo = [(s, c) for s in subjects for c in cfgs if _key(s, c) not in cache]
    t0 = time.time()
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        futs = {pool.submit(evaluate, s, c): (s, c) for s, c in todo}
        for fut in as_completed(futs):
            s, c = futs[fut]
            row = fut.result()
            cache[_key(s, c)] = row
            cache_path.write_text(json.dumps(cache), encoding="utf-8")
            print(f"[{time.time() - t0:6.0f} s] {s} {c.label()}: CSP+LDA @2s {row['classical']['2']:.3f}, "
                  f"residual {row['residual']['2']:.3f} ({row['seconds']} s)", flush=True)
    rows = {s: [cache[_key(s, c)] for c in cfgs] for s in subjects}

    def summary(i: int, subs: list[str]) -> dict:
        return {"index": i, "label": cfgs[i].label(), "config": cfgs[i].as_dict(),
                "residual_2s": float(np.mean([rows[s][i]["residual"]["2"] for s in subs])),
                "classical_2s": float(np.mean([rows[s][i]["classical"]["2"] for s in subs])),
                "residual_mean": float(np.mean([np.mean(list(rows[s][i]["residual"].values())) for s in subs])),
                "classical_mean": float(np.mean([np.mean(list(rows[s][i]["classical"].values())) for s in subs]))}

    loso = {s: summary(select(rows, len(cfgs), other_subjects(subjects, s)), [s]) for s in subjects}
    res = {"subjects": subjects, "calibration_runs": {s: list(CALIBRATION[s][0]) for s in subjects},
           "csp_config": config_label(DEFAULT_CSP), "configs": [c.label() for c in cfgs], "rows": rows,
           "selected_all": summary(select(rows, len(cfgs), subjects), subjects), "loso": loso,
           "loso_mean": {k: float(np.mean([r[k] for r in loso.values()]))
                         for k in ("classical_2s", "residual_2s", "classical_mean", "residual_mean")}}
    (args.out / "residual_study.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    md = markdown(res)
    (args.out / "residual_study.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
