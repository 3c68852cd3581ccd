"""The ``bci-stream calibrate`` pipeline: fit, cross-validate, pick and export a streaming classical decoder.

Pipeline (:func:`calibrate`):

1. load the files (any format :func:`bci_stream.io.load_recording` reads) and check them
   (:func:`~.calibration_inputs.load_calibration`): the ``--labels`` event names occur in the files, at
   least two classes, at least ``MIN_TRIALS`` cues per class, same channels and sfreq in every run;
2. for each family (CSP+LDA, tangent space + LR), a small candidate set around the cross-subject
   defaults of :mod:`.study` (channels × band × time constant, :func:`candidates`), scored by
   leave-one-run-out CV (trial-wise stratified k-fold when a single run is given) on the calibration
   data only; the decision for a trial is the argmax of the streaming output at cue + 2 s;
3. by default (``AVERAGE_CANDIDATES``, ``average=False`` turns it off) the shipped decoder is the average of
   every candidate of both families (:mod:`.ensemble`, family ``ensemble``: one step graph, the mean of their
   class probabilities; its CV is their CV averaged on the same folds), exported with
   :func:`~.ensemble_graph.export_ensemble`. Otherwise one is picked: within a family the candidate with the
   best ``CANDIDATE_RULE`` score (ties: the rule's own, then the earlier candidate, closer to the defaults);
   between the families' picks and the combined decoder of both (:mod:`.combined`, family ``csp_riemann``;
   ``combined=False`` leaves it out) the best ``FAMILY_RULE`` score (ties: the rule's own, then the cheaper graph:
   CSP+LDA, tangent space, combined) — all chosen by the nested study :mod:`.selection_study`; the winner is refitted
   on all calibration runs and exported (:func:`bci_stream.train.classical.export.export_csp_lda` /
   ``export_riemann``, :func:`~.combined_graph.export_csp_riemann`) into ``OUT/NAME/``; when CSP+LDA wins, a
   residual GRU on its logit is cross-validated on the same folds and shipped instead only where CV says it
   beats it (:func:`~.residual_calibrate.recurrent_stage`; ``recurrent=False`` skips it);
4. the exported graph's cost per sample is measured (:mod:`.step_cost`) and a report (``report/report.json``,
   ``report/report.md``, :mod:`.calibration_report`) is written into the model folder and a summary printed; the
   chance check of a decoder picked among candidates is of the nested CV of the pick (:mod:`.selection_nested`).

The command itself (click) is :mod:`.calibrate`; export needs ``onnx`` and is imported on use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy.stats import binom

from bci_stream.core.card import MODEL_NAME_PATTERN, ModelCard, sha256_file
from bci_stream.core.stats import wilson as _wilson
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from bci_stream.train.classical.calibration_report import (carried_warning, chance_check, cue_gaps, family_why,
                                                            size_notes, summary_lines, warnings_on_failure,
                                                            write_report)
from bci_stream.train.classical.combined import DEFAULT_COMBINE, CombinedConfig, CombinedParams, combined_cv
from bci_stream.train.classical.combined import FAMILY as COMBINED
from bci_stream.train.classical.configs import (
    CALIBRATE_ALTERNATIVES,
    DECISION_TIME,
    DEFAULT_CSP,
    DEFAULT_RIEMANN,
    EVAL_TIMES,
    Config,
    band_notes,
    band_tau_grid,
    candidate_bands,
    config_dict,
    config_label,
    with_,
)
from bci_stream.train.classical.cv import CvResult, Fold, cross_validate, make_folds, scheme_warning
from bci_stream.train.classical.data import display_names, sensorimotor_channels
from bci_stream.train.classical.ensemble import FAMILY as ENSEMBLE
from bci_stream.train.classical.ensemble import EnsembleConfig, EnsembleParams, ensemble_cv
from bci_stream.train.classical.fit import fit
from bci_stream.train.classical.model_version import changed_meanwhile, existing_model, name_problem, next_version
from bci_stream.train.export.folder_swap import kept_note
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.prepared import Prepared, all_trials
from bci_stream.train.classical.selection import RULE_TERMS, RULE_TIMES, RULES, WINDOW_TIMES
from bci_stream.train.classical.residual_calibrate import recurrent_stage
from bci_stream.train.classical.selection_nested import nested_selection, pick_selection

NAME_PATTERN = MODEL_NAME_PATTERN  # the card's: letters, digits, _ . -, starting with a letter or digit
# How calibrate picks (rules of .selection), chosen by the nested-CV study of .selection_study on the calibration
# runs of seven subject-task units (S001 and S002 fists/feet and left/right, S004 and S005 left/right, BCI2000's
# B2K-1 hands/feet; held-out-run accuracy at 2 s, 375 trials, with the defaults of .configs): candidate by acc2,
# family by nll2 with the combined decoder (probability mean) as a third option, 294 correct — tied with "always
# tangent space" (294), ahead by the mean over units (0.800 vs 0.798); the 100 rule pairs tried score 282-294, the
# former rule (nllwin / acc2, combined by log-mean) 288. Choosing the rule itself leave-one-subject-out gives 285:
# the differences are a few trials, within the noise of seven units.
CANDIDATE_RULE = "acc2"
FAMILY_RULE = "nll2"
# Whether calibrate also considers the combined decoder (.combined, CSP+LDA and tangent space in one graph) under
# FAMILY_RULE, ties to the cheaper graph (csp_lda, riemann, csp_riemann): part of the study's best rule above
# (--no-combined leaves it out).
CONSIDER_COMBINED = True
# Whether calibrate ships the average of every candidate of both families (.ensemble: the mean of their class
# probabilities, one step graph) instead of one pick. The same nested study (pre-registered gate: ahead of the
# single-pick rule by >= 6 held-out trials and behind on no subject): 307 of 375 vs 294 for the rule above; per
# subject S001 89 vs 87, S002 106 vs 102, S004 45 vs 40, S005 38 vs 38, B2K 29 vs 27. --no-average picks one.
AVERAGE_CANDIDATES = True


#: ``clip_sd`` of :func:`calibrate` and :func:`candidates` that keeps each family's default (:mod:`.configs`)
DEFAULT_CLIP = "default"


def candidates(prep: Prepared, family: str, channels_fixed: bool,
               clip_sd: float | None | str = DEFAULT_CLIP) -> list[Config]:
    """The per-subject candidate configs of ``family`` around the study's defaults (defaults first).

    Channels ``{sensorimotor, all}`` (only when a 10-10 sensorimotor subset exists, is not every channel, and
    ``--channels`` is not given) × band ``{default, alternative}`` × ``tau_s`` ``{default, alternative}``;
    ``clip_sd`` (``--clip-sd``: a number, None for no clip) replaces the defaults' clip.
    """
    base = DEFAULT_CSP if family == "csp_lda" else DEFAULT_RIEMANN
    if clip_sd != DEFAULT_CLIP:
        base = with_(base, clip_sd=clip_sd)
    alt = CALIBRATE_ALTERNATIVES[family]
    if channels_fixed:
        chans = [tuple(prep.ch_names)]
    elif (picked := sensorimotor_channels(prep.ch_names)) is None:
        chans = ["all"]
    elif len(picked) == len(prep.ch_names):  # every channel is sensorimotor: "all" is the same fit again
        chans = [base.channels]
    else:
        chans = list(dict.fromkeys([base.channels, alt["channels"]]))
    if not (grid := band_tau_grid(family, prep.sfreq)):
        bands = candidate_bands()
        names = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in bands)
        raise CalibrationError(f"sampling rate {prep.sfreq:g} Hz: calibrate's candidate bands ({names} Hz) all reach "
                               f"its Nyquist frequency ({prep.sfreq / 2:g} Hz); it needs a rate over "
                               f"{2 * min(hi for _, hi in bands):g} Hz")
    return [with_(base, channels=ch, band=band, tau_s=tau) for ch in chans for band, tau in grid]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95 % by default); ``(0, 1)`` when ``n == 0``."""
    return _wilson(k, n, z) or (0.0, 1.0)


def chance_threshold(n: int, p0: float, alpha: float = 0.05) -> float:
    """Smallest accuracy ``k / n`` with ``P(X >= k) < alpha`` for ``X ~ Binomial(n, p0)``."""
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
    params: CspLdaParams | RiemannParams | CombinedParams | EnsembleParams
    configs: dict[str, Config]
    model_dir: Path
    cv: dict[str, CvResult] = field(default_factory=dict)  # each family's CV of its selected config


@dataclass
class FamilyResult:
    """A family's selected config, its CV result, and one row per candidate (for the report)."""

    family: str
    config: Config
    cv: CvResult
    candidates: list[dict] = field(default_factory=list)
    cvs: list[CvResult] = field(default_factory=list)  # every candidate's CV, in candidate order
    configs: list[Config] = field(default_factory=list)  # every candidate's config, in the same order


def _select(prep: Prepared, family: str, folds: Sequence[Fold], channels_fixed: bool, progress: bool,
            clip_sd: float | None | str = DEFAULT_CLIP) -> FamilyResult:
    """Cross-validate the candidates of ``family``; the best under ``CANDIDATE_RULE`` wins (ties as the rule says)."""
    cands = candidates(prep, family, channels_fixed, clip_sd)
    rows, cvs, best = [], [], None
    it = cands
    if progress:
        from tqdm import tqdm
        it = tqdm(cands, desc=f"CV {family}", unit="config", leave=False)
    for cfg in it:
        cv = cross_validate(prep, cfg, folds, RULE_TIMES)
        cvs.append(cv)
        score = RULES[CANDIDATE_RULE](cv)
        rows.append({"config": config_label(cfg), "params": config_dict(cfg),
                     "acc": {f"{t:g}": cv.acc[t] for t in EVAL_TIMES}, "rule": CANDIDATE_RULE,
                     "score": list(score)})
        if best is None or score > best[0]:  # strict: the earlier (closer to the defaults) wins ties
            best = (score, cfg, cv)
    return FamilyResult(family, best[1], best[2], rows, cvs, list(cands))


def calibrate(paths: Sequence[str | Path], label_map: Mapping[str, str], name: str, out_dir: str | Path, *,
              channels: Sequence[str] | None = None, progress: bool = True,
              echo: Callable[[str], None] = print, recurrent: bool = True,
              combined: bool = CONSIDER_COMBINED, average: bool = AVERAGE_CANDIDATES,
              reader_options: Mapping[str, Any] | None = None,
              channel_names: Sequence[str] | None = None, overwrite: bool = False,
              bad_events: Sequence[str] = (), clip_sd: float | None | str = DEFAULT_CLIP) -> CalibrationResult:
    """Calibrate, export and report a streaming decoder (see the module docstring).

    ``overwrite`` (``--overwrite``): an ``OUT/NAME`` folder that already holds a model (or other files) is
    replaced; without it such a folder is refused before anything is loaded. The card's version is 1.0.0, or the
    next after the highest version of ``name`` in ``out_dir`` (the replaced one, or a kept copy's):
    :func:`~.model_version.next_version`. ``bad_events`` (``--bad-events``): event names whose span marks bad data;
    the trials overlapping them (and ``BAD*`` annotations, EEGLAB ``boundary``, non-finite stretches) are left out of
    fitting and CV, and said (:mod:`.bad_spans`; the report's ``trials_left_out``). ``clip_sd`` (``--clip-sd``):
    every candidate's component clip (None: none); by default each family's (:mod:`.configs`).

    Returns
    -------
    CalibrationResult
        The report (also written to ``OUT/NAME/report/``), the exported parameters, the configs.

    Raises
    ------
    CalibrationError
        Bad inputs (see :func:`~.calibration_inputs.load_calibration`), a bad ``name``, or an ``OUT/NAME`` that
        already holds files (without ``overwrite``).
    """
    if clip_sd not in (DEFAULT_CLIP, None) and not (isinstance(clip_sd, (int, float)) and 0 < clip_sd < math.inf):
        raise CalibrationError(f"--clip-sd must be a number > 0 (times each component's calibration RMS) or 'off', "
                               f"got {clip_sd!r}")
    if (why := name_problem(name)) is not None:  # before the work: a name too long failed at export (audit s51)
        raise CalibrationError(why)
    model_dir = Path(out_dir) / name
    held = existing_model(model_dir)
    if held and not model_dir.is_dir():
        raise CalibrationError(f"--name {name}: {model_dir} is a file, not a model folder; give another --name (or "
                               "--out)")
    if held and not overwrite:
        raise CalibrationError(f"--name {name}: {model_dir} already holds {held}; pass --overwrite to replace it, "
                               "or give another --name (or --out)")
    version, previous = next_version(out_dir, name)  # never a name@version the registry already holds
    t_start = time.time()
    prep = load_calibration(paths, label_map, channels=channels, progress=progress, reader_options=reader_options,
                            channel_names=channel_names, bad_events=bad_events)
    with warnings_on_failure(prep.notes, echo):  # else a failure after loading hides loading's warnings
        folds, scheme = make_folds(prep)
        k = len(prep.labels)
        counts = {lab: int(sum((r.trials.classes == i).sum() for r in prep.runs)) for i, lab in enumerate(prep.labels)}
        n_total = sum(counts.values())
        echo(f"calibrating {name!r}: {len(prep.runs)} run(s), {len(prep.ch_names)} channels at {prep.sfreq:g} Hz, "
             f"cues per class {counts}; CV: {scheme}")
        if held:
            echo(f"--overwrite: replacing {held} in {model_dir}{kept_note(model_dir, name, version)}")
        if previous is not None:
            echo(f"version: {name}@{version}, after {name}@{previous} in {out_dir} (a new version, so that the "
                 "registry, a decoder's status, its decoded stream and recordings tell the two models apart)")
        # loading's warnings are printed once, in the summary beside the chance check (metrics.warnings), not here too
        for note in [n for n in prep.notes if not n.startswith("warning: ")] + band_notes(prep.sfreq):
            echo(note if note.startswith("warning") else f"note: {note}")

        results = {fam: _select(prep, fam, folds, channels is not None, progress, clip_sd)
                   for fam in ("csp_lda", "riemann")}
        if combined:  # both picks on the same folds: their CV probabilities combined, no refit (.combined)
            cfg = CombinedConfig(results["csp_lda"].config, results["riemann"].config, DEFAULT_COMBINE)
            results[COMBINED] = FamilyResult(COMBINED, cfg, combined_cv(results["csp_lda"].cv, results["riemann"].cv,
                                                                        DEFAULT_COMBINE))

        def score(r: FamilyResult) -> tuple[float, ...]:
            return RULES[FAMILY_RULE](r.cv)

        order = sorted(results.values(), key=score, reverse=True)  # stable: csp_lda first on ties
        chosen = order[0]
        other = order[1]
        why = family_why(chosen, other, score, RULE_TERMS[FAMILY_RULE])
        if average:  # every candidate of both families, averaged (.ensemble); its CV: theirs, averaged
            single = results["csp_lda"].cvs + results["riemann"].cvs
            members = tuple(results["csp_lda"].configs + results["riemann"].configs)
            results[ENSEMBLE] = FamilyResult(ENSEMBLE, EnsembleConfig(members), ensemble_cv(single))
            why = (f"the mean of the class probabilities of all {len(members)} candidates (calibrate's default: "
                   f"averaging beat picking one in the nested study of seven subject-task units, 307 vs 294 of 375 "
                   f"held-out trials); picking one by the rules below would ship {chosen.family} ({why})")
            chosen = results[ENSEMBLE]

        nested = None if average else nested_selection(  # a pick: the chance check must account for the choice
            prep, folds, {f: results[f].configs for f in ("csp_lda", "riemann")},
            {f: results[f].cvs for f in ("csp_lda", "riemann")},
            lambda cvs: max(cvs, key=lambda f: (RULES[FAMILY_RULE](cvs[f]), -list(cvs).index(f))),
            (lambda a, b: combined_cv(a, b, DEFAULT_COMBINE)) if combined else None, CANDIDATE_RULE, progress)
        params = fit(prep, all_trials(prep, range(len(prep.runs))), chosen.config)
        majority = max(counts.values()) / n_total
        chance = {"uniform": 1.0 / k, "majority_class": majority,
                  "binomial_95_threshold": chance_threshold(n_total, majority)}
        fam_reports = {}
        for fam, r in results.items():
            n = r.cv.n_trials
            kc = r.cv.n_correct[DECISION_TIME]
            lo, hi = wilson(kc, n)
            fam_reports[fam] = {
                "config": config_label(r.config), "params": config_dict(r.config),
                "cv_acc": {f"{t:g}": r.cv.acc[t] for t in EVAL_TIMES}, "cv_n_trials": n,
                "cv_acc_window_mean": RULES["accwin"](r.cv)[0], "cv_window_s": list(WINDOW_TIMES),
                "cv_acc_2s_ci95": [lo, hi], "cv_per_fold_2s": [f[DECISION_TIME] for f in r.cv.per_fold],
                "cv_recall_2s": r.cv.recall(prep.labels),  # per class [correct, trials] at 2 s
                "candidates": r.candidates,
            }
        sizes = size_notes(params, chosen.config)  # the sizes fitting capped: in the card, said at the end too
        training = {  # file names only: a card travels with its model, not with this machine's paths
            "files": [Path(p).name for p in paths], "files_sha256": [sha256_file(Path(p)) for p in paths],
            "files_content": prep.prints,  # the same recording in another file (format, channel order): evaluate warns
            "label_map": dict(label_map), "labels": prep.labels, "ch_names": list(params.ch_names),
            "family_config": config_dict(chosen.config), "cv_scheme": scheme,
            "tool": "bci-stream calibrate", "reader": dict(reader_options or {}),  # how the cues were read
            # what loading noticed, the bands the rate left out, the sizes fitting capped
            "notes": list(prep.notes) + band_notes(prep.sfreq) + sizes,
        }
        metrics = {"cv_acc_2s": chosen.cv.acc[DECISION_TIME],
                   "cv_acc": {f"{t:g}": chosen.cv.acc[t] for t in EVAL_TIMES},
                   "cv_acc_2s_ci95": fam_reports[chosen.family]["cv_acc_2s_ci95"], "cv_scheme": scheme}
        rec = recurrent_stage(prep, folds, chosen.family, chosen.config, chosen.cv, params, enabled=recurrent,
                              progress=progress, echo=echo)  # the residual GRU, shipped only where CV says it wins
        shipped = (("csp_gru", rec.extra_metrics["cv_acc_2s"], rec.extra_metrics["cv_acc_2s_ci95"]) if rec.shipped
                   else (chosen.family, chosen.cv.acc[DECISION_TIME], fam_reports[chosen.family]["cv_acc_2s_ci95"]))
        sel = None if nested is None else pick_selection(nested, shipped[1], shipped[2], rec.shipped, n_total, majority)
        check = chance_check(shipped[1] if sel is None else sel.pop("acc"),
                             shipped[2] if sel is None else sel.pop("ci95"),
                             chance, shipped[0], DECISION_TIME, sel,  # reported, never a choice
                             others={fam: r.cv.acc[DECISION_TIME] for fam, r in results.items()})
        gaps = cue_gaps([r.trials.onsets / r.sfreq for r in prep.runs], DECISION_TIME)
        # what loading warned of (a run's amplitude not scalp EEG's in µV: a wrong unit; channels far off) goes to the
        # card and the summary beside the chance check, not only to the notes
        loaded = [n.removeprefix("warning: ") for n in prep.notes if n.startswith("warning: ")]
        warnings = [w for w in (scheme_warning(prep, scheme), check["warning"], gaps["warning"]) if w] + loaded
        warnings += carried_warning(model_dir)  # files of the version --overwrite replaces, kept beside this one
        metrics |= {"chance_check": {key: v for key, v in check.items() if key != "warning"}, "warnings": warnings}
        report = {  # its version, step cost and time once exported
            "name": name, "version": None, "model_dir": str(model_dir),
            "files": [str(p) for p in paths], "reader": training["reader"], "label_map": dict(label_map),
            "labels": prep.labels, "sfreq": prep.sfreq, "n_chans_available": len(prep.ch_names),
            "trials_per_class": counts,
            "trials_left_out": prep.left_out, "bad_events": [str(e) for e in bad_events],
            "cv_scheme": scheme, "decision_time_s": DECISION_TIME, "eval_times_s": list(EVAL_TIMES),
            "chance": chance, "chance_check": check, "cue_gaps": gaps, "warnings": warnings,
            "families": fam_reports, "chosen_family": chosen.family, "why": why,
            "nested_picks": None if sel is None else sel["picks"],  # each outer fold's pick by the nested CV
            "chosen_config": config_label(chosen.config), "ch_names": display_names(params.ch_names),
            "rules": {"candidate": f"{CANDIDATE_RULE}: the best {RULE_TERMS[CANDIDATE_RULE][0]} (ties: the "
                                   f"{RULE_TERMS[CANDIDATE_RULE][1]}, then the earlier candidate, closer to the "
                                   "defaults)",
                      "family": f"{FAMILY_RULE}: the best {RULE_TERMS[FAMILY_RULE][0]} (ties: the "
                                f"{RULE_TERMS[FAMILY_RULE][1]}, then the cheaper graph)"}
                     | ({"average": "on: the shipped decoder is the mean of every candidate's probabilities; the two "
                                    "rules above say what a single pick would be (--no-average ships it)"}
                        if average else {}),
            "notes": list(training["notes"]) + [
                "CV accuracy is that of the best of a small candidate set per family (channels x band x tau_s around "
                "the cross-subject defaults of bci_stream.train.classical.study), so it is slightly optimistic.",
                "Decision for a trial at t s: argmax of the streaming output at sample cue_onset + round(t * sfreq); "
                "the running estimators run over each whole run, as online.",
            ] + ([f"{COMBINED}: both families' picks in one graph, outputs combined by {DEFAULT_COMBINE}; its CV is "
                  f"their CV probabilities combined on the same folds (no candidates of its own)."] if combined else [])
              + ([f"{ENSEMBLE}: every candidate of both families in one graph, the mean of their class "
                  "probabilities; its CV is their CV probabilities averaged on the same folds (no fit of its own)."]
                 if average else []),
            "recurrent": rec.report,
            "step_cost": None,
            "seconds": None,
        }
        from bci_stream.train.classical.step_cost import step_cost
        from bci_stream.train.export.folder_swap import staged_folder

        with staged_folder(model_dir) as staged:  # the model and its report into the registry as one change
            card = (rec.export(staged, name, training, metrics, version) if rec.shipped
                    else _export(params, chosen.family, staged, name, version, training, metrics))
            report |= {"version": getattr(card, "version", None),
                       "step_cost": step_cost(staged),  # measured, reported, never a choice
                       "seconds": round(time.time() - t_start, 1)}
            write_report(report, staged / "report")
            if (why := changed_meanwhile(model_dir, held)) is not None:  # last: then it replaces what was there
                raise CalibrationError(why)
        for note in sizes:  # known only once fitted (before: in the report and card, not said here; audit s60cal O4)
            echo(f"note: {note}")
        for line in summary_lines(report):
            echo(line)
        return CalibrationResult(report, params, {f: r.config for f, r in results.items()}, model_dir,
                                 {f: r.cv for f, r in results.items()})


def _export(params: CspLdaParams | RiemannParams | CombinedParams | EnsembleParams, family: str, model_dir: Path,
            name: str, version: str, training: dict, metrics: dict) -> ModelCard:
    try:
        from bci_stream.train.classical.export import export_csp_lda, export_riemann
    except ImportError as exc:
        raise CalibrationError(f"cannot export: bci_stream.train.classical.export is not available ({exc})") from None
    fn = export_csp_lda if family == "csp_lda" else export_riemann
    if family == COMBINED:
        from bci_stream.train.classical.combined_graph import export_csp_riemann as fn
    elif family == ENSEMBLE:
        from bci_stream.train.classical.ensemble_graph import export_ensemble as fn
    scoring = {"marker_map": dict(training["label_map"]), "decision_time_s": DECISION_TIME}  # live scoring
    return fn(params, model_dir, name=name, version=version, training=training, metrics=metrics, scoring=scoring)


__all__ = ["NAME_PATTERN", "CalibrationResult", "FamilyResult", "calibrate", "candidates", "chance_threshold",
           "wilson"]
