"""Less calibration: a recurrent decoder pretrained across subjects, fine-tuned on ONE calibration run of a new one.

``python -m bci_stream.train.classical.pretrain_study --out DIR [--subjects S001,S002,S004,S005]``

Leave-one-subject-out over the EEGMMIDB subjects of ``$BCI_STREAM_DATA/eegmmidb`` (:mod:`.pretrain_data`):
for each target subject, its calibration run is its first imagery run of its task (R06 fists/feet, R04
left/right; 15 cues) and its test runs are every later run of that task (never used for any choice).

* **pretrained + fine-tuned** (:mod:`.pretrain`): a GRU with a head per task pretrained on every run of the
  other subjects (``scope`` "all", tasks mixed, GRU shared) or of the other subjects of the same task
  ("task"), aligned and standardised per subject with its own calibration run, then fine-tuned on the
  target's calibration run. The fine-tuning config (scope, head or all, epochs) is selected by
  leave-one-subject-out *inside the pretraining subjects*: for each other subject j, pretrain without the
  target and j, fine-tune on j's calibration run, score on j's later runs; the config with the best mean
  accuracy at 2 s (ties: mean over 0.5-3 s, then the earlier config) is used for the target;
* on the same calibration run and test runs: CSP+LDA and TS+LR with the calibrate default configs
  (:data:`~.configs.DEFAULT_CSP`, :data:`~.configs.DEFAULT_RIEMANN`), scored by :func:`~.cv.cross_validate`
  with one fold; for information CSP+LDA on the sensorimotor channels, the same GRU fine-tuned from a fresh
  init (no pretraining) and the pretrained net without fine-tuning (alignment only).

Trial accuracy at 0.5/1/2/3 s after cue = argmax of the streaming output (each run streamed from its first
sample), with Wilson 95 % intervals. The selected model of each target is exported as a ``csp_gru`` step
graph (:func:`~.residual_graph.export_csp_gru`, parity against the numpy reference checked by the runtime's
StepModel on real calibration samples) and its test accuracy is also scored from the ONNX outputs. Writes
``report.md`` and ``report.json`` (and ``models/``, ``pretrained/``: a cache that lets a rerun resume).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES
from bci_stream.train.classical.pretrain import FineTuneConfig, PretrainConfig, PretrainNet
from bci_stream.train.classical.pretrain_data import FrontEndConfig, SubjectData

#: The fine-tuning grid the inner leave-one-subject-out chooses from: scope x mode x epochs (10, 40), and 100
#: epochs for every weight (a first run with epochs 10/40 only chose 40 for every target: the grid's edge).
GRID: tuple[FineTuneConfig, ...] = tuple(FineTuneConfig(scope=s, mode=m, epochs=e)
                                         for s in ("all", "task") for m in ("head", "all") for e in (10, 40)) + tuple(
    FineTuneConfig(scope=s, mode="all", epochs=100) for s in ("all", "task"))
#: Pretraining used by the study (20 passes at most: the whole study stays within ~30 min on one core).
STUDY_PRETRAIN = PretrainConfig(max_epochs=20, patience=5)


def pretrain_set(scope: str, target: str, exclude: Sequence[str], subjects: dict[str, SubjectData]) -> tuple[str, ...]:
    """The subjects a model for ``target`` is pretrained on (never ``target`` nor ``exclude``)."""
    if scope not in ("all", "task"):
        raise ValueError(f"scope must be 'all' or 'task', got {scope!r}")
    return tuple(sorted(n for n, s in subjects.items() if n != target and n not in exclude
                        and (scope == "all" or s.task == subjects[target].task)))


def score_runs(subject: SubjectData, probs_at: Callable[[int, np.ndarray], np.ndarray],
               eval_times: Sequence[float] = EVAL_TIMES) -> dict:
    """Trial decisions on ``subject``'s test runs, as :func:`~.cv.cross_validate` decides them.

    ``probs_at(run, at)`` gives the class probabilities ``[len(at), K]`` at samples ``at`` of test run ``run``
    streamed from its first sample.
    """
    offsets = np.round(np.asarray(eval_times) * subject.prep.sfreq).astype(np.int64)
    correct, total = {t: 0 for t in eval_times}, 0
    for ri in subject.test:
        run = subject.prep.runs[ri]
        keep = run.trials.onsets + int(offsets.max()) < run.n_times
        onsets, classes = run.trials.onsets[keep], run.trials.classes[keep]
        if not len(onsets):
            continue
        at = (onsets[:, None] + offsets[None, :]).ravel()
        pred = probs_at(ri, at).reshape(len(onsets), len(eval_times), -1).argmax(axis=-1)
        for j, t in enumerate(eval_times):
            correct[t] += int((pred[:, j] == classes).sum())
        total += len(onsets)
    return counts_row(correct, total)


def counts_row(correct: dict[float, int], total: int) -> dict:
    """``{"acc", "n_correct", "n_trials", "ci95"}`` keyed by ``f"{t:g}"``, with Wilson intervals."""
    from bci_stream.core.stats import wilson

    return {"acc": {f"{t:g}": c / max(total, 1) for t, c in correct.items()},
            "n_correct": {f"{t:g}": int(c) for t, c in correct.items()}, "n_trials": int(total),
            "ci95": {f"{t:g}": wilson(int(c), total) for t, c in correct.items()}}


class Study:
    """Caches of one study: prepared subjects, pretrained nets (memory and ``cache_dir``), inner scores."""

    def __init__(self, subjects: dict[str, SubjectData], fe_cfg: FrontEndConfig = FrontEndConfig(),
                 pcfg: PretrainConfig = STUDY_PRETRAIN, grid: Sequence[FineTuneConfig] = GRID,
                 cache_dir: Path | None = None, log: Callable[[str], None] = print) -> None:
        from bci_stream.train.classical.pretrain_data import prepare

        if len(subjects) < 2:
            raise ValueError(f"subjects must hold at least two subjects (one target, one to pretrain on), got "
                             f"{sorted(subjects)}")
        self.subjects = {n: prepare(s, fe_cfg) if s.fe is None else s for n, s in subjects.items()}
        self.fe_cfg, self.pcfg, self.grid, self.cache_dir, self.log = fe_cfg, pcfg, list(grid), cache_dir, log
        self.n_features = next(iter(self.subjects.values())).zs[0].shape[1]
        self._nets: dict[tuple[str, ...], tuple[PretrainNet, dict]] = {}

    def pretrained(self, names: tuple[str, ...]) -> tuple[PretrainNet, dict]:
        """The net pretrained on ``names`` (cached in memory, and on disk when ``cache_dir`` is set)."""
        import torch

        from bci_stream.train.classical.pretrain import new_net, pretrain

        if names in self._nets:
            return self._nets[names]
        key = json.dumps({"subjects": names, "pretrain": self.pcfg.as_dict(), "front_end": repr(self.fe_cfg)})
        path = None if self.cache_dir is None else self.cache_dir / f"pre-{'+'.join(names) or 'none'}.pt"
        if path is not None and path.is_file():
            saved = torch.load(path, weights_only=False)
            if saved["key"] == key:
                net = new_net(self.n_features, self.pcfg.hidden_size, self.pcfg.seed)
                for task, k in saved["tasks"].items():
                    net.add_task(task, k)
                net.load_state_dict(saved["state"])
                self._nets[names] = (net, saved["info"])
                return self._nets[names]
        t0 = time.time()
        net, info = pretrain([self.subjects[n] for n in names], self.n_features, self.pcfg)
        info["seconds"] = round(time.time() - t0, 1)
        self.log(f"  pretrained on {list(names) or 'nobody'}: best epoch {info['best_epoch']} of "
                 f"{info['epochs_run']} ({info['seconds']} s)")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": key, "tasks": {t: m.out_features for t, m in net.lin.items()},
                        "state": net.state_dict(), "info": info}, path)
        self._nets[names] = (net, info)
        return net, info

    def fine_tuned_score(self, cfg: FineTuneConfig, target: str, exclude: Sequence[str] = ()
                         ) -> tuple[dict, PretrainNet]:
        """Pretrain for ``target`` (scope of ``cfg``, without ``exclude``), fine-tune, score (torch)."""
        from bci_stream.train.classical.pretrain import fine_tune, predict_run

        subject = self.subjects[target]
        pre, _ = self.pretrained(pretrain_set(cfg.scope, target, exclude, self.subjects))
        net, _ = fine_tune(pre, subject, cfg)
        return score_runs(subject, lambda ri, at: predict_run(net, subject.task, subject.zs[ri])[at]), net

    def select(self, target: str) -> dict:
        """Leave-one-subject-out inside the pretraining subjects of ``target``: the selected config."""
        inner = [n for n in self.subjects if n != target]
        scores = []
        for i, cfg in enumerate(self.grid):
            per = {j: self.fine_tuned_score(cfg, j, exclude=(target,))[0]["acc"] for j in inner}
            at2 = float(np.mean([a[f"{DECISION_TIME:g}"] for a in per.values()]))
            allt = float(np.mean([np.mean(list(a.values())) for a in per.values()]))
            scores.append({"index": i, "label": cfg.label(), "config": cfg.as_dict(), "inner_acc": per,
                           "mean_2s": at2, "mean_all": allt})
        best = max(range(len(scores)), key=lambda i: (scores[i]["mean_2s"], scores[i]["mean_all"], -i))
        return {"selected": best, "label": self.grid[best].label(), "inner_subjects": inner, "scores": scores}

    def baselines(self, target: str) -> dict[str, dict]:
        """CSP+LDA and TS+LR (calibrate defaults) fitted on the calibration run alone, scored on the test runs."""
        from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN, with_
        from bci_stream.train.classical.cv import Fold, cross_validate
        from bci_stream.train.classical.prepared import all_trials

        s = self.subjects[target]
        fold = Fold(all_trials(s.prep, [s.calib]), all_trials(s.prep, s.test))
        out = {}
        for name, cfg in (("csp_lda", DEFAULT_CSP), ("ts_lr", DEFAULT_RIEMANN),
                          ("csp_lda_sensorimotor", with_(DEFAULT_CSP, channels="sensorimotor"))):
            r = cross_validate(s.prep, cfg, [fold])
            out[name] = counts_row(r.n_correct, r.n_trials)
        return out

    def run_target(self, target: str, models_dir: Path | None) -> dict:
        """Select, pretrain, fine-tune, score every method and export the model of one target subject."""
        from bci_stream.train.classical.pretrain import fine_tune, new_net, predict_run, to_params
        from bci_stream.train.classical.residual_ref import residual_outputs_from_preprocessed

        t0 = time.time()
        s = self.subjects[target]
        sel = self.select(target)
        cfg = self.grid[sel["selected"]]
        inner_2s = sel["scores"][sel["selected"]]["mean_2s"]
        self.log(f"{target}: selected `{cfg.label()}` (inner mean @2 s {inner_2s:.3f})")
        names = pretrain_set(cfg.scope, target, (), self.subjects)
        pre, pre_info = self.pretrained(names)
        net, ft_info = fine_tune(pre, s, cfg)
        params = to_params(net, s, self.fe_cfg)
        _, _, u_runs = s.prep.filtered(self.fe_cfg.csp_config())
        torch_probs = {ri: predict_run(net, s.task, s.zs[ri]) for ri in s.test}
        ref_diff = [0.0]

        def reference(ri: int, at: np.ndarray) -> np.ndarray:  # the exported model's math (numpy, float64)
            y = residual_outputs_from_preprocessed(params, u_runs[ri], at)
            ref_diff[0] = max(ref_diff[0], float(np.abs(y - torch_probs[ri][at]).max()))
            return y

        methods = self.baselines(target)
        methods["pretrained_ft"] = score_runs(s, reference)
        methods["pretrained_ft"]["max_abs_diff_torch_vs_numpy"] = ref_diff[0]
        scratch, _ = fine_tune(new_net(self.n_features, self.pcfg.hidden_size, self.pcfg.seed), s,
                               replace(cfg, mode="all"))
        methods["scratch_ft"] = score_runs(s, lambda ri, at: predict_run(scratch, s.task, s.zs[ri])[at])
        if s.task in pre.lin:
            methods["pretrained_only"] = score_runs(s, lambda ri, at: predict_run(pre, s.task, s.zs[ri])[at])
        row = {"subject": target, "task": s.task, "labels": s.labels,
               "calib_run": s.run_numbers[s.calib], "test_runs": [s.run_numbers[i] for i in s.test],
               "n_calib_trials": len(s.prep.runs[s.calib].trials), "selection": sel, "config": cfg.as_dict(),
               "pretrained_on": list(names), "pretrain_info": {k: v for k, v in pre_info.items() if k != "history"},
               "fine_tune": ft_info, "methods": methods}
        if models_dir is not None:
            row["export"] = self.export(target, params, models_dir, row)
        row["seconds"] = round(time.time() - t0, 1)
        return row

    def export(self, target: str, params, models_dir: Path, row: dict) -> dict:
        """Export the fine-tuned model (``csp_gru`` step graph) and score the ONNX outputs on the test runs."""
        from bci_stream.core.registry import ModelRegistry
        from bci_stream.engine.step_model import StepModel
        from bci_stream.train.classical.residual_graph import export_csp_gru
        from bci_stream.train.classical.residual_ref import residual_reference

        s = self.subjects[target]
        name = f"{target.lower()}-pretrained-ft"
        idx = [s.prep.ch_names.index(c) for c in params.csp.ch_names]
        raw = {ri: np.ascontiguousarray(s.prep.runs[ri].data[:, idx], dtype=np.float32) for ri in [s.calib, *s.test]}
        card = export_csp_gru(
            params, models_dir / name, name=name, version="1.0.0", parity_input=raw[s.calib][:2000],
            training={"pretrained_on": row["pretrained_on"], "fine_tuned_on": f"{target} R{row['calib_run']:02d}",
                      "fine_tune": row["config"], "pretrain": self.pcfg.as_dict(), "front_end": repr(self.fe_cfg)},
            metrics={"test_acc": row["methods"]["pretrained_ft"]["acc"], "test_runs": row["test_runs"]})
        model = StepModel(ModelRegistry(models_dir).get(name).onnx_path, card)
        outs, diff = {}, [0.0]
        for ri in s.test:
            outs[ri] = model.run(raw[ri], model.new_state())
            diff[0] = max(diff[0], float(np.abs(outs[ri] - residual_reference(params, raw[ri])).max()))
        onnx_row = score_runs(s, lambda ri, at: outs[ri][at])
        return {"model": name, "dir": str(models_dir / name), "family": card.architecture.family,
                "parity_max_abs_diff": card.parity.max_abs_diff if card.parity else None,
                "parity_samples": 2000, "onnx_test": onnx_row, "onnx_vs_numpy_max_abs_diff_test_runs": diff[0]}


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.data import data_root
    from bci_stream.train.classical.pretrain_data import SUBJECT_TASKS, eegmmidb_subject
    from bci_stream.train.classical.pretrain_report import write_report

    p = argparse.ArgumentParser(prog="python -m bci_stream.train.classical.pretrain_study",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="Folder for report.md, report.json, models/, pretrained/.")
    p.add_argument("--subjects", default=",".join(SUBJECT_TASKS), help="Comma-separated EEGMMIDB subjects.")
    p.add_argument("--no-export", action="store_true", help="Do not export the fine-tuned models.")
    args = p.parse_args(argv)
    names = [x.strip() for x in args.subjects.split(",") if x.strip()]
    unknown = [n for n in names if n not in SUBJECT_TASKS]
    if unknown:
        print(f"error: --subjects must be among {sorted(SUBJECT_TASKS)}, got {unknown}", file=sys.stderr)
        return 2
    if len(set(names)) < 3:  # with 2, the inner selection for a target pretrains on nobody (audit s61train F6)
        print(f"error: --subjects must name at least 3 different subjects (a target, and at least 2 others: its "
              f"inner leave-one-subject-out selection pretrains on all but one of them), got {names}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    try:
        subjects = {n: eegmmidb_subject(n, data_root()) for n in names}
    except FileNotFoundError as exc:
        print(f"error: {exc} (set BCI_STREAM_DATA)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    study = Study(subjects, cache_dir=args.out / "pretrained")
    rows = [study.run_target(n, None if args.no_export else args.out / "models") for n in names]
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m bci_stream.train.classical.pretrain_study " + " ".join(given)
    md = write_report(args.out, rows, study, command, round(time.time() - t0, 1))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
