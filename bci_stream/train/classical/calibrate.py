"""``bci-stream calibrate``: fit, cross-validate, pick and export a streaming classical decoder for one subject.

Pipeline (:func:`calibrate`):

1. load the files (any format :func:`bci_stream.data.load_recording` reads) and check them
   (:func:`load_calibration`): the ``--labels`` event names occur in the files, at least two classes,
   at least :data:`MIN_TRIALS` cues per class, same channels and sfreq in every run;
2. for each family (CSP+LDA, tangent space + LR), a small candidate set around the cross-subject
   defaults of :mod:`.study` (channels × band × time constant, :func:`candidates`), scored by
   leave-one-run-out CV (trial-wise stratified k-fold when a single run is given) on the calibration
   data only; the decision for a trial is the argmax of the streaming output at cue + 2 s;
3. the family with the best CV accuracy at 2 s wins (ties: the mean over 0.5/1/2/3 s, then CSP+LDA,
   the cheaper graph); it is refitted on all calibration runs and exported with
   :func:`bci_stream.train.classical.export.export_csp_lda` / ``export_riemann`` into ``OUT/NAME/``;
4. a report (``report/report.json``, ``report/report.md``) is written into the model folder and a
   summary is printed.

Only click is imported at module level; numpy, scikit-learn and the loaders are imported on use.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from bci_stream.errors import BciStreamError

MIN_TRIALS = 4
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class CalibrationError(BciStreamError, ValueError):
    """The calibration files or options cannot give a decoder (the message says which rule and value)."""


# --- inputs ---------------------------------------------------------------------------------------------


def parse_labels(text: str) -> dict[str, str]:
    """``"T1=fists,T2=feet"`` → ``{"T1": "fists", "T2": "feet"}`` (event/marker name → class name)."""
    out: dict[str, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CalibrationError(
                f"--labels must be EVENT=CLASS pairs separated by commas (e.g. T1=fists,T2=feet); got {text!r}")
        if key in out:
            raise CalibrationError(f"--labels names event {key!r} twice; got {text!r}")
        out[key] = value
    if not out:
        raise CalibrationError(f"--labels must map at least two events to classes (e.g. T1=fists,T2=feet); got {text!r}")
    return out


def parse_channels(text: str | None) -> list[str] | None:
    """``"C3,Cz,C4"`` → ``["C3", "Cz", "C4"]``; None or empty → None."""
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None


def load_calibration(paths: Sequence[str | Path], label_map: Mapping[str, str], *,
                     channels: Sequence[str] | None = None, min_trials: int = MIN_TRIALS,
                     progress: bool = False):
    """Load and check calibration files; return a :class:`~.fit.Prepared` of their runs.

    Parameters
    ----------
    paths
        One file per run.
    label_map
        Event (annotation / marker / state value) name → class name.
    channels
        Channels to use (matched after normalising names); default: the first file's channels, which
        every other file must have.
    min_trials
        Fewest cues per class over all files.

    Raises
    ------
    CalibrationError
        With a message naming the file, the rule and the value: ``sfreq mismatch between runs``,
        ``channels missing in``, ``not in the files``, ``only one class present``,
        ``fewer than N trials``, ``has no cue of``; loader errors are re-raised as
        ``cannot load FILE: ...``.
    """
    import numpy as np

    from bci_stream.data import load_recording
    from bci_stream.data.channels import match_channels
    from bci_stream.data.errors import DataError
    from bci_stream.data.labels import label_names_of
    from bci_stream.train.classical.features import trials_of
    from bci_stream.train.classical.fit import EVAL_TIMES, Prepared, Run

    if not paths:
        raise CalibrationError("FILE... must name at least one recording; got none")
    labels = label_names_of(label_map)
    if len(labels) < 2:
        raise CalibrationError(
            f"only one class present in --labels: it must map events to at least two classes; got {dict(label_map)}")
    recs = []
    it = paths
    if progress:
        from tqdm import tqdm
        it = tqdm(paths, desc="loading", unit="file", leave=False)
    for p in it:
        try:
            recs.append(load_recording(p))
        except DataError as exc:
            raise CalibrationError(f"cannot load {p}: {exc}") from None
    first = recs[0]
    for rec in recs[1:]:
        if rec.sfreq != first.sfreq:
            raise CalibrationError(
                f"sfreq mismatch between runs: {rec.source} has sfreq={rec.sfreq:g} Hz, {first.source} has "
                f"{first.sfreq:g} Hz (every run must have the same rate; we never resample)")
    wanted = list(channels) if channels else list(first.ch_names)
    runs = []
    for rec in recs:
        idx, missing, ambiguous = match_channels(rec.ch_names, wanted)
        if missing:
            where = "--channels" if channels else f"the first file {first.source}"
            raise CalibrationError(
                f"channels missing in {rec.source}: {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                f"({len(missing)} of the {len(wanted)} channels of {where}; pass --channels with a set every "
                f"file has)")
        if ambiguous:
            name, hits = next(iter(ambiguous.items()))
            raise CalibrationError(f"channel {name!r} matches several channels of {rec.source}: {hits}")
        if len(set(idx)) != len(idx):
            raise CalibrationError(f"--channels names a channel twice (after normalising names): {wanted}")
        runs.append((rec, idx))
    present = {str(ev.description) for rec in recs for ev in rec.events}
    absent = [k for k in label_map if str(k) not in present]
    counts_ev: dict[str, int] = {}
    for rec in recs:
        for ev in rec.events:
            counts_ev[str(ev.description)] = counts_ev.get(str(ev.description), 0) + 1
    listing = ", ".join(f"{d!r} ×{n}" for d, n in sorted(counts_ev.items())) or "none"
    not_in_files = (f"--labels names event(s) {absent} not in the files (their events are: {listing})"
                    if absent else "")
    out_runs = []
    for rec, idx in runs:
        trials = trials_of(rec.events, {str(k): v for k, v in label_map.items()}, labels, rec.n_times, rec.sfreq,
                           min_after_s=max(EVAL_TIMES))
        out_runs.append(Run(data=np.ascontiguousarray(rec.data[idx].T), sfreq=rec.sfreq,
                            ch_names=[rec.ch_names[i] for i in idx], trials=trials, source=rec.source))
    counts = {name: int(sum((r.trials.classes == k).sum() for r in out_runs)) for k, name in enumerate(labels)}
    have = [n for n, c in counts.items() if c > 0]
    if len(have) < 2:
        raise CalibrationError(
            f"only one class present in the files: cues per class {counts}; --labels must map events of at least "
            f"two classes that occur" + (f"; {not_in_files}" if absent else ""))
    if absent:
        raise CalibrationError(not_in_files)
    empty = [r.source for r in out_runs if len(r.trials) == 0]
    if empty:
        raise CalibrationError(
            f"{empty[0]} has no cue of --labels {sorted(label_map)} at least {max(EVAL_TIMES):g} s before its end; "
            f"leave the file out")
    few = {n: c for n, c in counts.items() if c < min_trials}
    if few:
        raise CalibrationError(
            f"fewer than {min_trials} trials for class(es) {few} (cues per class {counts}); record more runs")
    return Prepared(out_runs, labels)


# --- candidates and statistics ------------------------------------------------------------------------------


def candidates(prep, family: str, channels_fixed: bool) -> list:
    """The per-subject candidate configs of ``family`` around the study's defaults (defaults first).

    Channels ``{sensorimotor, all}`` (only when a 10-10 sensorimotor subset exists and ``--channels`` is
    not given) × band ``{default, alternative}`` × ``tau_s`` ``{default, alternative}``.
    """
    from bci_stream.train.classical.features import sensorimotor_channels
    from bci_stream.train.classical.fit import CALIBRATE_ALTERNATIVES, DEFAULT_CSP, DEFAULT_RIEMANN, with_

    base = DEFAULT_CSP if family == "csp_lda" else DEFAULT_RIEMANN
    alt = CALIBRATE_ALTERNATIVES[family]
    if channels_fixed:
        chans = [tuple(prep.ch_names)]
    elif sensorimotor_channels(prep.ch_names) is None:
        chans = ["all"]
    else:
        chans = list(dict.fromkeys([base.channels, alt["channels"]]))
    out = []
    for ch in chans:
        for band in dict.fromkeys([tuple(base.band), tuple(alt["band"])]):
            for tau in dict.fromkeys([base.tau_s, alt["tau_s"]]):
                out.append(with_(base, channels=ch, band=band, tau_s=tau))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95 % by default)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def chance_threshold(n: int, p0: float, alpha: float = 0.05) -> float:
    """Smallest accuracy ``k / n`` with ``P(X >= k) < alpha`` for ``X ~ Binomial(n, p0)``."""
    from scipy.stats import binom

    for k in range(n + 1):
        if binom.sf(k - 1, n, p0) < alpha:
            return k / n
    return 1.0


# --- the pipeline -------------------------------------------------------------------------------------------


@dataclass
class CalibrationResult:
    """What :func:`calibrate` returns: the report (as written), the exported parameters and each family's
    selected config (for offline evaluation)."""

    report: dict
    params: Any
    configs: dict[str, Any]
    model_dir: Path


@dataclass
class FamilyResult:
    family: str
    config: Any
    cv: Any
    candidates: list[dict] = field(default_factory=list)


def _select(prep, family: str, folds, channels_fixed: bool, progress: bool) -> FamilyResult:
    from bci_stream.train.classical.fit import DECISION_TIME, config_dict, config_label, cross_validate

    cands = candidates(prep, family, channels_fixed)
    rows, best = [], None
    it = cands
    if progress:
        from tqdm import tqdm
        it = tqdm(cands, desc=f"CV {family}", unit="config", leave=False)
    for cfg in it:
        cv = cross_validate(prep, cfg, folds)
        score = (cv.acc[DECISION_TIME], sum(cv.acc.values()) / len(cv.acc))
        rows.append({"config": config_label(cfg), "params": config_dict(cfg),
                     "acc": {f"{t:g}": a for t, a in cv.acc.items()}})
        if best is None or score > best[0]:  # strict: the earlier (closer to the defaults) wins ties
            best = (score, cfg, cv)
    return FamilyResult(family, best[1], best[2], rows)


def calibrate(paths: Sequence[str | Path], label_map: Mapping[str, str], name: str, out_dir: str | Path, *,
              channels: Sequence[str] | None = None, progress: bool = True,
              echo: Callable[[str], None] = print) -> CalibrationResult:
    """Calibrate, export and report a streaming decoder (see the module docstring).

    Returns
    -------
    CalibrationResult
        The report (also written to ``OUT/NAME/report/``), the exported parameters, the configs.

    Raises
    ------
    CalibrationError
        Bad inputs (see :func:`load_calibration`) or a bad ``name``.
    """
    import numpy as np

    from bci_stream.train.classical.features import display_names
    from bci_stream.train.classical.fit import (
        DECISION_TIME, EVAL_TIMES, all_trials, config_dict, config_label, fit, make_folds,
    )

    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise CalibrationError(f"--name must match {NAME_PATTERN} (letters, digits, _ . -); got {name!r}")
    t_start = time.time()
    prep = load_calibration(paths, label_map, channels=channels, progress=progress)
    folds, scheme = make_folds(prep)
    k = len(prep.labels)
    counts = {lab: int(sum((r.trials.classes == i).sum() for r in prep.runs)) for i, lab in enumerate(prep.labels)}
    n_total = sum(counts.values())
    echo(f"calibrating {name!r}: {len(prep.runs)} run(s), {len(prep.ch_names)} channels at {prep.sfreq:g} Hz, "
         f"cues per class {counts}; CV: {scheme}")

    results = {fam: _select(prep, fam, folds, channels is not None, progress) for fam in ("csp_lda", "riemann")}

    def score(r: FamilyResult) -> tuple[float, float]:
        return r.cv.acc[DECISION_TIME], sum(r.cv.acc.values()) / len(r.cv.acc)

    order = sorted(results.values(), key=score, reverse=True)  # stable: csp_lda first on ties
    chosen = order[0]
    other = order[1]
    if score(chosen) == score(other):
        why = (f"{chosen.family} and {other.family} tie in CV accuracy at {DECISION_TIME:g} s "
               f"({chosen.cv.acc[DECISION_TIME]:.3f}) and over 0.5-3 s; {chosen.family} is the cheaper graph")
    elif chosen.cv.acc[DECISION_TIME] == other.cv.acc[DECISION_TIME]:
        why = (f"tie at {DECISION_TIME:g} s ({chosen.cv.acc[DECISION_TIME]:.3f}); {chosen.family} has the higher "
               f"mean CV accuracy over {', '.join(f'{t:g}' for t in EVAL_TIMES)} s")
    else:
        why = (f"higher CV accuracy at {DECISION_TIME:g} s after cue: {chosen.cv.acc[DECISION_TIME]:.3f} vs "
               f"{other.cv.acc[DECISION_TIME]:.3f} ({other.family})")

    params = fit(prep, all_trials(prep, range(len(prep.runs))), chosen.config)
    majority = max(counts.values()) / n_total
    fam_reports = {}
    for fam, r in results.items():
        n = r.cv.n_trials
        kc = r.cv.n_correct[DECISION_TIME]
        lo, hi = wilson(kc, n)
        fam_reports[fam] = {
            "config": config_label(r.config), "params": config_dict(r.config),
            "cv_acc": {f"{t:g}": r.cv.acc[t] for t in EVAL_TIMES}, "cv_n_trials": n,
            "cv_acc_2s_ci95": [lo, hi], "cv_per_fold_2s": [f[DECISION_TIME] for f in r.cv.per_fold],
            "candidates": r.candidates,
        }
    training = {
        "files": [str(p) for p in paths], "label_map": dict(label_map), "labels": prep.labels,
        "ch_names": list(params.ch_names), "family_config": config_dict(chosen.config), "cv_scheme": scheme,
        "tool": "bci-stream calibrate",
    }
    metrics = {"cv_acc_2s": chosen.cv.acc[DECISION_TIME],
               "cv_acc": {f"{t:g}": chosen.cv.acc[t] for t in EVAL_TIMES},
               "cv_acc_2s_ci95": fam_reports[chosen.family]["cv_acc_2s_ci95"], "cv_scheme": scheme}
    model_dir = Path(out_dir) / name
    card = _export(params, chosen.family, model_dir, name, training, metrics)

    report = {
        "name": name, "version": getattr(card, "version", None), "model_dir": str(model_dir),
        "files": [str(p) for p in paths], "label_map": dict(label_map), "labels": prep.labels,
        "sfreq": prep.sfreq, "n_chans_available": len(prep.ch_names), "trials_per_class": counts,
        "cv_scheme": scheme, "decision_time_s": DECISION_TIME, "eval_times_s": list(EVAL_TIMES),
        "chance": {"uniform": 1.0 / k, "majority_class": majority,
                   "binomial_95_threshold": chance_threshold(n_total, majority)},
        "families": fam_reports, "chosen_family": chosen.family, "why": why,
        "chosen_config": config_label(chosen.config), "ch_names": display_names(params.ch_names),
        "notes": [
            "CV accuracy is that of the best of a small candidate set per family (channels x band x tau_s around "
            "the cross-subject defaults of bci_stream.train.classical.study), so it is slightly optimistic.",
            "Decision for a trial at t s: argmax of the streaming output at sample cue_onset + round(t * sfreq); "
            "the running estimators run over each whole run, as online.",
        ] + (["Only one run was given: CV is a trial-wise stratified k-fold within that run, not "
              "leave-one-run-out, and may overestimate accuracy on a new session."] if len(prep.runs) == 1 else []),
        "seconds": round(time.time() - t_start, 1),
    }
    _write_report(report, model_dir / "report")
    for line in summary_lines(report):
        echo(line)
    return CalibrationResult(report, params, {f: r.config for f, r in results.items()}, model_dir)


def _export(params, family: str, model_dir: Path, name: str, training: dict, metrics: dict):
    try:
        from bci_stream.train.classical.export import export_csp_lda, export_riemann
    except ImportError as exc:
        raise CalibrationError(f"cannot export: bci_stream.train.classical.export is not available ({exc})") from None
    fn = export_csp_lda if family == "csp_lda" else export_riemann
    return fn(params, model_dir, name=name, version="1.0.0", training=training, metrics=metrics)


def summary_lines(report: dict) -> list[str]:
    """The printed summary of a calibration report."""
    times = [f"{t:g}" for t in report["eval_times_s"]]
    ch = report["chance"]
    lines = [f"CV: {report['cv_scheme']}; chance {ch['uniform']:.2f} (majority class {ch['majority_class']:.2f}, "
             f"binomial 95% threshold {ch['binomial_95_threshold']:.2f})",
             "family    " + "".join(f"{'acc@' + t + 's':>10}" for t in times) + "   95% CI @2s      config"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        lines.append(f"{fam:<10}" + "".join(f"{r['cv_acc'][t]:>10.3f}" for t in times)
                     + f"   [{lo:.2f}, {hi:.2f}]   {r['config']}")
    lines.append(f"chosen: {report['chosen_family']} ({report['why']})")
    lines.append(f"exported to {report['model_dir']} (report in {report['model_dir']}/report/)")
    return lines


def _write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    times = [f"{t:g}" for t in report["eval_times_s"]]
    md = [f"# Calibration report: {report['name']}", "",
          f"* files: {', '.join(Path(f).name for f in report['files'])}",
          f"* labels: {report['label_map']} → classes {report['labels']}; cues per class {report['trials_per_class']}",
          f"* sfreq {report['sfreq']:g} Hz, {report['n_chans_available']} channels available; "
          f"model uses {len(report['ch_names'])}: {', '.join(report['ch_names'])}",
          f"* CV scheme: {report['cv_scheme']}",
          f"* chance: uniform {report['chance']['uniform']:.3f}, majority class "
          f"{report['chance']['majority_class']:.3f}, binomial 95% threshold "
          f"{report['chance']['binomial_95_threshold']:.3f}", "",
          "## CV accuracy (trial decision = argmax of the streaming output at t s after cue)", "",
          "| family | " + " | ".join(f"acc @ {t} s" for t in times) + " | 95% CI @ 2 s (Wilson) | config |",
          "|---|" + "---|" * len(times) + "---|---|"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        md.append(f"| {fam} | " + " | ".join(f"{r['cv_acc'][t]:.3f}" for t in times)
                  + f" | [{lo:.2f}, {hi:.2f}] | `{r['config']}` |")
    md += ["", f"**Chosen: {report['chosen_family']}** — {report['why']}.", "", "## Candidates", ""]
    for fam, r in report["families"].items():
        md += [f"### {fam}", "", "| config | " + " | ".join(f"@{t} s" for t in times) + " |",
               "|---|" + "---|" * len(times)]
        for c in r["candidates"]:
            md.append(f"| `{c['config']}` | " + " | ".join(f"{c['acc'][t]:.3f}" for t in times) + " |")
        md.append("")
    md += ["## Notes", ""] + [f"* {n}" for n in report["notes"]]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")


# --- the command ---------------------------------------------------------------------------------------------


@click.command("calibrate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--labels", "labels", required=True, metavar="EV=CLASS,...",
              help="Event/marker names of the files → class names, e.g. T1=fists,T2=feet.")
@click.option("--name", required=True, help="Model name (folder OUT/NAME).")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Model registry folder [default: the service's models_dir, env BCI_STREAM_MODELS_DIR].")
@click.option("--channels", default=None, metavar="CH,...",
              help="Use exactly these channels (names matched after normalising, e.g. C3 finds 'C3..').")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def calibrate_cmd(files: tuple[Path, ...], labels: str, name: str, out: Path | None, channels: str | None,
                  no_progress: bool) -> None:
    """Calibrate a streaming CSP+LDA or Riemannian decoder on FILE... (one file per run) and export it."""
    try:
        if out is None:
            from bci_stream.settings import Settings
            out = Settings().models_dir
        calibrate(list(files), parse_labels(labels), name, out, channels=parse_channels(channels),
                  progress=not no_progress, echo=click.echo)
    except (BciStreamError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


__all__ = ["CalibrationError", "CalibrationResult", "calibrate", "calibrate_cmd", "candidates", "chance_threshold", "load_calibration",
           "parse_channels", "parse_labels", "summary_lines", "wilson"]
