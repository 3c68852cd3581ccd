"""Cross-subject study that sets the defaults of the streaming classical decoders.

``python -m bci_stream.train.classical.study --out DIR [--jobs 2]``

Data: the CALIBRATION runs of seven subject-task units, six of EEGMMIDB in ``$BCI_STREAM_DATA/eegmmidb`` and one
of BCI2000's samples (the held-out test runs — S001 R10 and R11/R12, S002 R13/R14 and R11/R12, S004/S005 R11/R12 —
are never read here):

* S001 R05 R06 R09 and S002 R05 R06 R09 R10 (T1 both fists vs T2 both feet);
* S004, S005, S001-LR and S002-LR: R03 R04 R07 R08 (T1 left fist vs T2 right fist);
* B2K-1: BCI2000's sample motor recording of another subject (``$BCI_STREAM_DATA/bci2000/eeg1_1.dat`` and
  ``eeg1_2.dat``; executed both hands vs both feet, StimulusCode 1/2; same cap and channel order, 160 Hz).

Score of a config on a unit: leave-one-run-out trial accuracy at 2 s after cue (decision = argmax of
the streaming output at cue + 2 s), features computed causally over each whole run. A config's score is
the mean over units (each unit weighs the same).

Design (two stages, per family):

1. a grid over the shared choices — band × CAR × channel set × ``tau_s`` × training-time scheme — with
   the family-specific choices at neutral values;
2. a grid over the family-specific choices (CSP: components × covariance shrinkage; Riemann:
   shrinkage × projection size × projection kind × LR C) around the stage-1 winner.

Leave-one-subject-out: for each unit, the two-stage selection is redone on the units of the other subjects
(both tasks of S001 or S002 are left out together) and the selected config is scored on the held-out unit;
this estimates how well "the defaults" transfer to an unseen subject. The defaults themselves are the
selection on all seven units; they are copied into
``DEFAULT_CSP`` / ``DEFAULT_RIEMANN`` / ``CALIBRATE_ALTERNATIVES`` of :mod:`.configs` by hand (with a comment).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.train.classical.configs import (
    DECISION_TIME, EVAL_TIMES, CspConfig, RiemannConfig, config_dict, config_label, with_,
)
from bci_stream.train.classical.cv import cross_validate, make_folds

# study unit (subject, or subject-task) -> (calibration runs, label map). Test runs are deliberately absent:
# S001 R10 and R11/R12, S002 R13/R14 and R11/R12, S004/S005 R11/R12. Each unit weighs the same in a mean.
CALIBRATION: dict[str, tuple[tuple[int, ...], dict[str, str]]] = {
    "S001": ((5, 6, 9), {"T1": "fists", "T2": "feet"}),
    "S002": ((5, 6, 9, 10), {"T1": "fists", "T2": "feet"}),
    "S004": ((3, 4, 7, 8), {"T1": "left_fist", "T2": "right_fist"}),
    "S005": ((3, 4, 7, 8), {"T1": "left_fist", "T2": "right_fist"}),
    "S001-LR": ((3, 4, 7, 8), {"T1": "left_fist", "T2": "right_fist"}),
    "S002-LR": ((3, 4, 7, 8), {"T1": "left_fist", "T2": "right_fist"}),
    "B2K-1": ((1, 2), {"1": "hands", "2": "feet"}),
}
# units that are not EEGMMIDB runs: their files under the data root (BCI2000's sample motor recording of another
# subject, same cap and channel order: both runs are calibration data, it has no test runs)
UNIT_FILES: dict[str, tuple[str, ...]] = {"B2K-1": ("bci2000/eeg1_1.dat", "bci2000/eeg1_2.dat")}


def subject_of(unit: str) -> str:
    """The EEGMMIDB subject of a study unit (``"S001-LR"`` -> ``"S001"``)."""
    return unit.split("-")[0]


def other_subjects(units: Sequence[str], held_out: str) -> list[str]:
    """The units of ``units`` from another subject than ``held_out``'s: leave-one-subject-out leaves out every
    task of the held-out subject, not just the held-out unit."""
    return [u for u in units if subject_of(u) != subject_of(held_out)]

BANDS = ((8.0, 30.0), (5.0, 35.0), (8.0, 20.0))
TAUS = (0.5, 1.0, 1.5)
CARS = (False, True)
CHANNELS = ("sensorimotor", "all")
SCHEMES = ("at2", "1-3s", "0.5-4s")


def calibration_paths(subject: str, root: Path | None = None) -> list[Path]:
    from bci_stream.train.classical.data import data_root

    root = root or data_root()
    if subject in UNIT_FILES:
        return [root / f for f in UNIT_FILES[subject]]
    runs, _ = CALIBRATION[subject]
    name = subject_of(subject)
    return [root / "eegmmidb" / name / f"{name}R{r:02d}.edf" for r in runs]


def stage1_grid(family: str) -> list:
    base = CspConfig() if family == "csp_lda" else RiemannConfig()
    return [with_(base, band=b, car=c, channels=ch, tau_s=t, train_times=s)
            for b, c, ch, t, s in itertools.product(BANDS, CARS, CHANNELS, TAUS, SCHEMES)]


def stage2_grid(base) -> list:
    if isinstance(base, CspConfig):
        return [with_(base, n_components=m, cov_shrinkage=r) for m, r in itertools.product((4, 6, 8), (0.0, 0.1, 0.3))]
    return [with_(base, shrinkage=s, n_dims=n, projection=p, lr_c=c)
            for s, n, p, c in itertools.product((0.01, 0.05, 0.2), (8, 16), ("csp", "pca"), (0.1, 1.0, 10.0))]


# --- two-method studies on the units (fbcsp_study, transfer_study) ------------------------------------------


def gate_against(rows: Sequence[dict], candidate: str, baselines: Sequence[str], gate_trials: int) -> dict:
    """Correct trials at 2 s of ``candidate`` and ``baselines`` summed over study ``rows`` (each ``{"unit",
    "n_trials", "correct": {method: {time: n}}}``) and per subject (a subject's units together); ``margin`` =
    candidate − best baseline in total, ``losing`` = subjects where the candidate is behind its best baseline, and
    whether the gate (margin >= ``gate_trials``, no subject losing) passes."""
    key = f"{DECISION_TIME:g}"
    methods = (candidate, *baselines)
    total = {m: sum(r["correct"][m][key] for r in rows) for m in methods}
    per_subject: dict[str, dict[str, int]] = {}
    for r in rows:
        s = per_subject.setdefault(subject_of(r["unit"]), {m: 0 for m in methods})
        for m in methods:
            s[m] += r["correct"][m][key]
    margin = total[candidate] - max(total[b] for b in baselines)
    losing = [s for s, c in per_subject.items() if c[candidate] < max(c[b] for b in baselines)]
    return {"total": total, "n": sum(r["n_trials"] for r in rows), "per_subject": per_subject, "margin": margin,
            "losing": losing, "passes": margin >= gate_trials and not losing}


def gate_verdict(g: dict) -> str:
    """The end of a study's gate sentence from :func:`gate_against`'s result: margin, losing subjects, verdict."""
    return (f"margin {g['margin']}, subjects where it is behind: {g['losing'] or 'none'} -> "
            f"**{'passes' if g['passes'] else 'does not pass'}**.")


def unit_study_main(argv: list[str] | None, *, prog: str, doc: str, stem: str,
                    run: Callable[[Any], dict], items: Callable[[tuple[str, ...]], list[Any]],
                    gate: Callable[[list[dict]], dict], markdown: Callable[[list[dict], dict], str]) -> int:
    """The command of a study run unit by unit: ``--out DIR [--jobs N] [--subjects U,...]``; ``run`` over
    ``items(units)`` in ``jobs`` processes, then ``DIR/<stem>.json`` (rows, gate, seconds) and ``DIR/<stem>.md``."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--subjects", default=",".join(CALIBRATION), help="Study units (default: all).")
    args = ap.parse_args(argv)
    units = tuple(u.strip() for u in args.subjects.split(",") if u.strip())
    t0 = time.time()
    rows = map_jobs(run, items(units), args.jobs)
    g = gate(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"rows": rows, "gate": g, "seconds": round(time.time() - t0, 1)}
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    md = markdown(rows, g)
    (args.out / f"{stem}.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"{time.time() - t0:.0f} s")
    return 0


# --- evaluation (worker processes keep each subject's prepared data) -----------------------------------------

_PREP: dict = {}


def _prep(subject: str):
    if subject not in _PREP:
        from bci_stream.train.classical.calibration_inputs import load_calibration

        _PREP[subject] = load_calibration(calibration_paths(subject), CALIBRATION[subject][1])
    return _PREP[subject]


def map_jobs(fn: Callable[[Any], Any], items: Sequence[Any], jobs: int) -> list[Any]:
    """``[fn(item) for item in items]``, in ``jobs`` processes when ``jobs > 1`` (results in order)."""
    if jobs <= 1:
        return [fn(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(fn, items))


def raw_results(out: Path, from_raw: bool, compute: Callable[[], list[Any]]) -> list[Any]:
    """A study's raw per-subject results: ``out/raw.pkl`` of an earlier run when ``from_raw`` (rescoring without
    refitting), else ``compute()``, saved there."""
    import pickle

    path = out / "raw.pkl"
    if from_raw:
        return pickle.loads(path.read_bytes())
    raw = compute()
    path.write_bytes(pickle.dumps(raw))
    return raw


def _evaluate_chunk(subject: str, configs: list) -> list[dict[float, float]]:
    prep = _prep(subject)
    folds, _ = make_folds(prep)
    return [cross_validate(prep, cfg, folds).acc for cfg in configs]


def evaluate(configs: Sequence, subjects: Sequence[str], jobs: int, desc: str) -> dict[str, list[dict[float, float]]]:
    """LORO accuracy (per eval time) of every config on every subject: ``{subject: [acc per config]}``."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    chunk = 6
    out: dict[str, list] = {s: [None] * len(configs) for s in subjects}
    keys = [json.dumps(config_dict(c), sort_keys=True) for c in configs]
    for s in subjects:  # results of an interrupted run, reused (same subject, same config)
        for i, k in enumerate(keys):
            if (s, k) in _CACHE:
                out[s][i] = _CACHE[(s, k)]
    todo = {s: [i for i in range(len(configs)) if out[s][i] is None] for s in subjects}
    tasks = [(s, todo[s][j:j + chunk]) for s in subjects for j in range(0, len(todo[s]), chunk)]
    tasks = [(s, idx, [configs[i] for i in idx]) for s, idx in tasks]

    def store(s: str, idx: list[int], accs: list) -> None:
        for i, a in zip(idx, accs):
            out[s][i] = a
            _CACHE[(s, keys[i])] = a
        _save_cache()
    with tqdm(total=sum(len(t[1]) for t in tasks), desc=desc, unit="fit") as bar:
        if jobs <= 1:
            for s, idx, cfgs in tasks:
                store(s, idx, _evaluate_chunk(s, cfgs))
                bar.update(len(idx))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futs = {pool.submit(_evaluate_chunk, s, cfgs): (s, idx) for s, idx, cfgs in tasks}
                from concurrent.futures import as_completed

                for fut in as_completed(futs):
                    s, idx = futs[fut]
                    store(s, idx, fut.result())
                    bar.update(len(idx))
    return out


_CACHE: dict[tuple[str, str], dict[float, float]] = {}
_CACHE_PATH: list[Path] = []


def _load_cache(path: Path) -> None:
    _CACHE_PATH[:] = [path]
    if path.is_file():
        for row in json.loads(path.read_text(encoding="utf-8")):
            _CACHE[(row["subject"], row["key"])] = {float(t): a for t, a in row["acc"].items()}


def _save_cache() -> None:
    if _CACHE_PATH:
        rows = [{"subject": s, "key": k, "acc": {str(t): a for t, a in acc.items()}} for (s, k), acc in _CACHE.items()]
        _CACHE_PATH[0].write_text(json.dumps(rows), encoding="utf-8")


# --- selection ----------------------------------------------------------------------------------------------


def _score(accs: dict[str, list], idx: int, subjects: Sequence[str]) -> tuple[float, float]:
    at2 = float(np.mean([accs[s][idx][DECISION_TIME] for s in subjects]))
    allt = float(np.mean([np.mean(list(accs[s][idx].values())) for s in subjects]))
    return at2, allt


def select(accs: dict[str, list], subjects: Sequence[str]) -> int:
    """Index of the config with the best mean accuracy at 2 s over ``subjects`` (ties: mean over times, then
    the earlier config)."""
    n = len(next(iter(accs.values())))
    best = max(range(n), key=lambda i: (_score(accs, i, subjects), -i))
    return best


def run_family(family: str, subjects: Sequence[str], jobs: int) -> dict:
    grid1 = stage1_grid(family)
    acc1 = evaluate(grid1, subjects, jobs, f"{family} stage 1")
    selections = {"ALL": list(subjects)} | {f"LOSO-{s}": other_subjects(subjects, s) for s in subjects}
    win1 = {k: select(acc1, subs) for k, subs in selections.items()}
    stage2: dict[int, dict] = {}
    for w in sorted(set(win1.values())):
        grid2 = stage2_grid(grid1[w])
        stage2[w] = {"grid": grid2, "acc": evaluate(grid2, subjects, jobs, f"{family} stage 2 around #{w}")}
    chosen: dict[str, dict] = {}
    for k, subs in selections.items():
        g2 = stage2[win1[k]]
        j = select(g2["acc"], subs)
        cfg = g2["grid"][j]
        chosen[k] = {"config": config_label(cfg), "params": config_dict(cfg), "stage1_index": win1[k],
                     "train_subjects": subs,
                     "acc_per_subject": {s: g2["acc"][s][j][DECISION_TIME] for s in subjects}}
    loso = {s: chosen[f"LOSO-{s}"]["acc_per_subject"][s] for s in subjects}

    def rows(grid, acc):
        out = []
        for i, cfg in enumerate(grid):
            out.append({"config": config_label(cfg), "params": config_dict(cfg),
                        "acc_2s": {s: acc[s][i][DECISION_TIME] for s in subjects},
                        "mean_2s": _score(acc, i, subjects)[0], "mean_all_times": _score(acc, i, subjects)[1],
                        "mean_by_time": {f"{t:g}": float(np.mean([acc[s][i][t] for s in subjects]))
                                         for t in EVAL_TIMES}})
        return out

    w_all = win1["ALL"]
    return {
        "family": family,
        "stage1": rows(grid1, acc1),
        "stage2": {str(w): rows(v["grid"], v["acc"]) for w, v in stage2.items()},
        "chosen": chosen,
        "loso_acc_2s": loso, "loso_mean_2s": float(np.mean(list(loso.values()))),
        "alternatives": alternatives(grid1, acc1, w_all, subjects),
    }


def alternatives(grid1: list, acc1: dict, w: int, subjects: Sequence[str]) -> dict:
    """For channels, band and tau_s: the best *other* value with everything else at the stage-1 winner
    (what ``calibrate`` tries per subject besides the defaults)."""
    base = grid1[w]
    out = {}
    for name in ("channels", "band", "tau_s"):
        best = None
        for i, cfg in enumerate(grid1):
            same = all(getattr(cfg, f) == getattr(base, f) for f in ("band", "car", "channels", "tau_s", "train_times")
                       if f != name)
            if same and getattr(cfg, name) != getattr(base, name):
                sc = _score(acc1, i, subjects)
                if best is None or sc > best[0]:
                    best = (sc, getattr(cfg, name))
        out[name] = best[1] if best else getattr(base, name)
    return out


# --- output -----------------------------------------------------------------------------------------------


def markdown(result: dict, subjects: Sequence[str], top: int = 15) -> str:
    md = ["# Cross-subject study of the streaming classical decoders", "",
          "Calibration runs only (S001 R05 R06 R09; S002 R05 R06 R09 R10; S004, S005, S001-LR, S002-LR R03 R04 R07 "
          "R08; B2K-1 eeg1_1 eeg1_2 of BCI2000). Score: leave-one-run-out trial accuracy at 2 s after cue (argmax of "
          "the streaming output), mean over units.",
          ""]
    for fam, r in result["families"].items():
        md += [f"## {fam}", "",
               "### Leave-one-subject-out (selection on the other subjects' units, score on the held-out)",
               "", "| held-out | selected config | acc @ 2 s |", "|---|---|---|"]
        for s in subjects:
            c = r["chosen"][f"LOSO-{s}"]
            md.append(f"| {s} | `{c['config']}` | {r['loso_acc_2s'][s]:.3f} |")
        md += [f"| **mean** | | **{r['loso_mean_2s']:.3f}** |", "",
               f"**Defaults (selected on all units):** `{r['chosen']['ALL']['config']}` — per subject "
               + ", ".join(f"{s} {a:.3f}" for s, a in r["chosen"]["ALL"]["acc_per_subject"].items()), "",
               f"Per-subject alternatives tried by `calibrate`: {r['alternatives']}", ""]
        for title, rows in [("Stage 1 (top %d of %d)" % (top, len(r["stage1"])), r["stage1"])] + [
                (f"Stage 2 around stage-1 #{w} (top {top} of {len(v)})", v) for w, v in r["stage2"].items()]:
            md += [f"### {title}", "", "| config | " + " | ".join(subjects) + " | mean @2 s | mean 0.5-3 s |",
                   "|---|" + "---|" * (len(subjects) + 2)]
            for row in sorted(rows, key=lambda x: (x["mean_2s"], x["mean_all_times"]), reverse=True)[:top]:
                md.append(f"| `{row['config']}` | " + " | ".join(f"{row['acc_2s'][s]:.3f}" for s in subjects)
                          + f" | {row['mean_2s']:.3f} | {row['mean_all_times']:.3f} |")
            md.append("")
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bci_stream.train.classical.study", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="Folder for study.json and study.md.")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="Worker processes.")
    p.add_argument("--families", default="csp_lda,riemann")
    p.add_argument("--subjects", default=",".join(CALIBRATION))
    args = p.parse_args(argv)
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    missing = [str(f) for s in subjects for f in calibration_paths(s) if not f.is_file()]
    if missing:
        print(f"error: calibration files missing (set BCI_STREAM_DATA): {missing[:3]}", file=sys.stderr)
        return 2
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    _load_cache(args.out / "cv_cache.json")
    result = {"subjects": subjects, "calibration_runs": {s: list(CALIBRATION[s][0]) for s in subjects},
              "families": {}}
    for fam in [f.strip() for f in args.families.split(",")]:
        result["families"][fam] = run_family(fam, subjects, args.jobs)
        r = result["families"][fam]
        print(f"{fam}: defaults {r['chosen']['ALL']['config']}; LOSO acc@2s "
              + ", ".join(f"{s} {a:.3f}" for s, a in r["loso_acc_2s"].items()) + f" (mean {r['loso_mean_2s']:.3f})")
    result["seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.json").write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    md = markdown(result, subjects)
    (args.out / "study.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
