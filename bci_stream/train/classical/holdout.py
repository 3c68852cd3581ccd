"""Held-out evaluation of ``bci-stream calibrate`` against epoch-based baselines.

``python -m bci_stream.train.classical.holdout [--models DIR] [--out DIR] [--subjects S002,S001,...]``

For each subject: run the calibrate pipeline on its calibration runs (exporting into ``--models``), then
score OFFLINE on the held-out test runs (never used for any choice):

* the exported decoder's parameters with the numpy reference
  (:func:`~.reference.csp_lda_reference` / :func:`~.reference.riemann_reference`): trial accuracy at 0.5,
  1, 2 and 3 s after cue (argmax of the streaming output; each test run streamed from its first sample);
* the exported ONNX step graph through :class:`~bci_stream.engine.step_model.StepModel` on the same runs
  (decisions at 2 s and the largest |difference| to the reference), when the export module exists;
* every family (CSP+LDA, tangent space, and the combined decoder of both, :mod:`.combined`; each with its
  CV-selected config refitted on all calibration runs), for information only;
* epoch CSP+LDA (MNE ``CSP(4)`` + LDA, 8–30 Hz zero-phase FIR, epochs 0.5–2.5 s after cue, all channels)
  and epoch TS+LR (pyriemann OAS covariances, tangent space at the Riemannian mean, logistic regression)
  fitted on the same calibration runs.

Writes ``holdout.json`` and ``holdout.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES

SPLITS: dict[str, dict] = {
    "S002": {"calib": (5, 6, 9, 10), "test": (13, 14), "labels": {"T1": "fists", "T2": "feet"}},
    "S001": {"calib": (5, 6, 9), "test": (10,), "labels": {"T1": "fists", "T2": "feet"}},
    "S004": {"calib": (3, 4, 7, 8), "test": (11, 12), "labels": {"T1": "left_fist", "T2": "right_fist"}},
    "S005": {"calib": (3, 4, 7, 8), "test": (11, 12), "labels": {"T1": "left_fist", "T2": "right_fist"}},
    "S001-LR": {"calib": (3, 4, 7, 8), "test": (11, 12), "labels": {"T1": "left_fist", "T2": "right_fist"}},
    "S002-LR": {"calib": (3, 4, 7, 8), "test": (11, 12), "labels": {"T1": "left_fist", "T2": "right_fist"}},
}


def _paths(subject: str, runs) -> list[Path]:
    from bci_stream.train.classical.data import data_root
    from bci_stream.train.classical.study import subject_of

    name = subject_of(subject)
    return [data_root() / "eegmmidb" / name / f"{name}R{r:02d}.edf" for r in runs]


def streaming_test_acc(params, test_paths: list[Path], label_map: dict) -> dict:
    """Trial accuracy of ``params`` on the test files with the numpy reference, at each of EVAL_TIMES."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.combined import CombinedParams, combined_reference
    from bci_stream.train.classical.ensemble import EnsembleParams, ensemble_reference
    from bci_stream.train.classical.params import CspLdaParams
    from bci_stream.train.classical.reference import csp_lda_reference, riemann_reference

    prep = load_calibration(test_paths, label_map, channels=params.ch_names, min_trials=1)
    ref = (combined_reference if isinstance(params, CombinedParams)
           else ensemble_reference if isinstance(params, EnsembleParams)
           else csp_lda_reference if isinstance(params, CspLdaParams) else riemann_reference)
    correct = {t: 0 for t in EVAL_TIMES}
    n = 0
    outputs = []
    for run in prep.runs:
        y = ref(params, run.data)
        outputs.append(y)
        for t in EVAL_TIMES:
            at = run.trials.onsets + int(round(t * run.sfreq))
            correct[t] += int((y[at].argmax(axis=1) == run.trials.classes).sum())
        n += len(run.trials)
    return {"acc": {f"{t:g}": correct[t] / n for t in EVAL_TIMES}, "n_trials": n, "_outputs": outputs,
            "_prep": prep}


def onnx_check(model_dir: Path, name: str, prep, ref_outputs: list[np.ndarray]) -> dict:
    """Run the exported step graph on the test runs: accuracy at 2 s and max |y_onnx - y_reference|."""
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry

    entry = ModelRegistry(model_dir.parent).get(name)
    model = StepModel(entry.onnx_path, entry.card)
    correct, n, diff = {t: 0 for t in EVAL_TIMES}, 0, 0.0
    for run, y_ref in zip(prep.runs, ref_outputs):
        state = model.new_state()
        y = model.run(run.data.astype(np.float32), state)
        diff = max(diff, float(np.abs(y - y_ref).max()))
        for t in EVAL_TIMES:
            at = run.trials.onsets + int(round(t * run.sfreq))
            correct[t] += int((y[at].argmax(axis=1) == run.trials.classes).sum())
        n += len(run.trials)
    return {"acc_2s": correct[DECISION_TIME] / n, "acc": {f"{t:g}": correct[t] / n for t in EVAL_TIMES},
            "max_abs_diff_vs_reference": diff, "family": entry.card.architecture.family}


def _epochs(paths: list[Path], label_map: dict, band: tuple[float, float] = (8.0, 30.0),
            window: tuple[float, float] = (0.5, 2.5)) -> tuple[np.ndarray, np.ndarray]:
    """Zero-phase band-passed epochs ``[N, C, T]`` (µV) and classes of EEGMMIDB files, with MNE."""
    import mne

    label_map = {k: v for k, v in label_map.items() if v is not None}  # EVENT= (None): cues no epoch
    classes = sorted(set(label_map.values()), key=list(label_map.values()).index)
    xs, ys = [], []
    for p in paths:
        raw = mne.io.read_raw_edf(p, preload=True, verbose="error")
        raw.filter(*band, fir_design="firwin", verbose="error")
        event_id = {k: i + 1 for i, k in enumerate(label_map)}
        events, _ = mne.events_from_annotations(raw, event_id=event_id, verbose="error")
        ep = mne.Epochs(raw, events, event_id=event_id, tmin=window[0], tmax=window[1], baseline=None,
                        preload=True, verbose="error")
        xs.append(ep.get_data(copy=True) * 1e6)
        inv = {v: k for k, v in event_id.items()}
        ys.append(np.array([classes.index(label_map[inv[e]]) for e in ep.events[:, 2]]))
    return np.concatenate(xs), np.concatenate(ys)


def epoch_baselines(calib: list[Path], test: list[Path], label_map: dict) -> dict:
    """Epoch CSP+LDA (MNE, 4 components) and TS+LR (pyriemann, OAS) test accuracies."""
    from mne.decoding import CSP
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import mne

    x_tr, y_tr = _epochs(calib, label_map)
    x_te, y_te = _epochs(test, label_map)
    with mne.utils.use_log_level("error"):
        csp = make_pipeline(CSP(n_components=4, reg=None, log=True, norm_trace=False),
                            LinearDiscriminantAnalysis()).fit(x_tr, y_tr)
    ts = make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000)
                       ).fit(x_tr, y_tr)
    return {"epoch_csp_lda": float((csp.predict(x_te) == y_te).mean()),
            "epoch_ts_lr": float((ts.predict(x_te) == y_te).mean()), "n_test_trials": int(len(y_te))}


def evaluate_subject(subject: str, models: Path, progress: bool = True) -> dict:
    from bci_stream.train.classical.calibration import calibrate
    from bci_stream.train.classical.combined import DEFAULT_COMBINE, FAMILY, CombinedConfig, combined_cv
    from bci_stream.train.classical.fit import fit
    from bci_stream.train.classical.prepared import all_trials

    split = SPLITS[subject]
    calib, test = _paths(subject, split["calib"]), _paths(subject, split["test"])
    name = f"{subject.lower()}-{'-'.join(sorted(set(split['labels'].values())))}"
    res = calibrate(calib, split["labels"], name, models, progress=progress, echo=lambda s: print("  " + s),
                    overwrite=True)  # the study rebuilds its models on purpose
    rep = res.report
    chosen = rep["chosen_family"]
    stream = streaming_test_acc(res.params, test, split["labels"])
    row = {"subject": subject, "calib_runs": list(split["calib"]), "test_runs": list(split["test"]), "model": name,
           "chosen_family": chosen, "chosen_config": rep["chosen_config"],
           "cv_acc": {FAMILY: combined_cv(res.cv["csp_lda"], res.cv["riemann"], DEFAULT_COMBINE).acc[DECISION_TIME]}
           | {f: r["cv_acc"][f"{DECISION_TIME:g}"] for f, r in rep["families"].items()},
           "test_acc": stream["acc"], "n_test_trials": stream["n_trials"]}
    try:
        row["onnx"] = onnx_check(res.model_dir, name, stream["_prep"], stream["_outputs"])
    except ImportError as exc:
        row["onnx"] = {"error": f"not checked: {exc}"}
    if row["onnx"].get("family") == "csp_gru":  # the shipped residual GRU: its own outputs are the test figures
        row["chosen_family"], row["test_acc"] = "csp_gru", row["onnx"]["acc"]
    # every family (the combined and averaged ones too), refitted with its CV-selected config: information only
    from bci_stream.train.classical.calibration_inputs import load_calibration

    cal = load_calibration(calib, split["labels"])
    configs = res.configs | {FAMILY: CombinedConfig(res.configs["csp_lda"], res.configs["riemann"], DEFAULT_COMBINE)}
    row["families_test"] = {}
    for fam, cfg in configs.items():
        fam_params = fit(cal, all_trials(cal, range(len(cal.runs))), cfg)
        row["families_test"][fam] = streaming_test_acc(fam_params, test, split["labels"])["acc"]
    row.update(epoch_baselines(calib, test, split["labels"]))
    return row


def markdown(rows: list[dict]) -> str:
    md = ["# Held-out evaluation of `bci-stream calibrate`", "",
          "Streaming decoders scored offline with the numpy reference on the held-out test runs (never used for "
          "any choice); decision = argmax of the streaming output at t s after cue. Epoch baselines fitted on "
          "the same calibration runs (8-30 Hz zero-phase, epochs 0.5-2.5 s, all 64 channels).", "",
          "| subject (calib → test) | streaming family | CV acc @2 s (csp / riem / comb / avg) | test @0.5 s | @1 s "
          "| @2 s | @3 s | every family @2 s (csp / riem / comb / avg) | ONNX @2 s (max diff) | epoch CSP+LDA "
          "| epoch TS+LR "
          "| bar met |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["test_acc"]
        onnx = r.get("onnx", {})
        onnx_s = (f"{onnx['acc_2s']:.3f} ({onnx['max_abs_diff_vs_reference']:.1e})" if "acc_2s" in onnx
                  else onnx.get("error", "-"))
        best = max(r["epoch_csp_lda"], r["epoch_ts_lr"])
        bar = "yes" if t["2"] >= best - 1e-12 else "no"
        fams = ("csp_lda", "riemann", "csp_riemann", "ensemble")
        cv = " / ".join(f"{r['cv_acc'][f]:.3f}" if f in r["cv_acc"] else "-" for f in fams)
        every = " / ".join(f"{r['families_test'][f]['2']:.3f}" if f in r.get("families_test", {}) else "-"
                           for f in fams)
        md.append(
            f"| {r['subject']} R{','.join(f'{x:02d}' for x in r['calib_runs'])} → "
            f"R{','.join(f'{x:02d}' for x in r['test_runs'])} ({r['n_test_trials']} trials) | {r['chosen_family']} "
            f"| {cv} | {t['0.5']:.3f} | {t['1']:.3f} | **{t['2']:.3f}** | {t['3']:.3f} | {every} "
            f"| {onnx_s} | {r['epoch_csp_lda']:.3f} | {r['epoch_ts_lr']:.3f} | {bar} |")
    md += ["", totals_line(rows), "", "Chosen configs:", ""]
    md += [f"* {r['subject']}: `{r['chosen_config']}`" for r in rows]
    return "\n".join(md) + "\n"


def totals_line(rows: list[dict]) -> str:
    """Correct test trials at 2 s summed over the splits: the calibrated decoders and both epoch baselines."""
    def total(acc) -> int:
        return sum(int(round(acc(r) * r["n_test_trials"])) for r in rows)

    n = sum(r["n_test_trials"] for r in rows)
    return (f"Total correct at 2 s over {len(rows)} split(s), {n} test trials: calibrated "
            f"**{total(lambda r: r['test_acc']['2'])}**, epoch CSP+LDA {total(lambda r: r['epoch_csp_lda'])}, "
            f"epoch TS+LR {total(lambda r: r['epoch_ts_lr'])}.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bci_stream.train.classical.holdout", description=__doc__.split("\n")[0])
    p.add_argument("--models", type=Path, default=Path("/tmp/bci-stream-holdout/models"),
                   help="Registry folder the calibrated models are exported into.")
    p.add_argument("--out", type=Path, default=Path("/tmp/bci-stream-holdout"), help="Folder for holdout.json/.md.")
    p.add_argument("--subjects", default=",".join(SPLITS))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from bci_stream.core.errors import BciStreamError

    from bci_stream.io.data_root import missing_data_hint

    subjects = [x.strip() for x in args.subjects.split(",") if x.strip()]
    missing = [p for s in subjects for p in _paths(s, SPLITS[s]["calib"] + SPLITS[s]["test"]) if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        print(f"error: {missing[0]} does not exist{more}: {missing_data_hint()}", file=sys.stderr)
        return 2
    rows = []
    t0 = time.time()
    for s in subjects:
        print(f"{s}: calibrating on R{SPLITS[s]['calib']}, testing on R{SPLITS[s]['test']}")
        try:
            rows.append(evaluate_subject(s, args.models, progress=not args.no_progress))
        except BciStreamError as exc:
            print(f"error: {s}: {exc}", file=sys.stderr)
            return 2
        r = rows[-1]
        print(f"  test acc @2s {r['test_acc']['2']:.3f} ({r['chosen_family']}); epoch CSP+LDA "
              f"{r['epoch_csp_lda']:.3f}, epoch TS+LR {r['epoch_ts_lr']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "holdout.json").write_text(json.dumps({"rows": rows, "seconds": round(time.time() - t0, 1)},
                                                      indent=1, default=str) + "\n", encoding="utf-8")
    md = markdown(rows)
    (args.out / "holdout.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
