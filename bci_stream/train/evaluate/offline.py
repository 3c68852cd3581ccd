"""``bci-stream evaluate``: score a checkpoint or an exported model on recordings.

An exported model (a folder with ``model.json``, or a registry name) runs through the service's own
offline path (:func:`bci_stream.engine.offline.decode_offline`: the card's preprocessing, then
onnxruntime), so what is scored is what would be deployed. A checkpoint (``.pt``) runs in torch.
Channels come from the card/checkpoint (picked and reordered by name from each file); the label map
and trial classes too, unless given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.errors import ModelError
from bci_stream.train.evaluate.output_kind import class_outputs


def onnx_file_problem(target: str) -> str | None:
    """Why MODEL ``target`` cannot be read when it is a model folder's ONNX file ("the model", given for its folder:
    before, read as a torch checkpoint, answered with torch's unpickling dump); None otherwise."""
    path = Path(target)
    if path.suffix != ".onnx" or not path.is_file():
        return None
    return (f"MODEL {target} is an ONNX file: give its model folder ({path.parent}, the one holding model.json), a "
            "registry name, or a checkpoint .pt")


def _load_target(target: str, models_dir: Path | None) -> dict[str, Any]:
    path = Path(target)
    if (why := onnx_file_problem(target)) is not None:
        raise ModelError(why)
    if path.suffix == ".pt" or (path.is_file() and path.name != "model.json"):
        from bci_stream.train.checkpoint import load_checkpoint
        from bci_stream.train.evaluate.in_sample import checkpoint_training_files
        from bci_stream.train.nets.birnn import BiRNN

        net, meta = load_checkpoint(path)
        class_outputs(path.name, net.config().get("head"), meta["label_names"])
        lookahead = net.lookahead if isinstance(net, BiRNN) else 0
        return {"kind": "checkpoint", "name": path.stem, "net": net, "ch_names": meta["ch_names"],
                "sfreq": meta["sfreq"], "label_names": meta["label_names"], "preprocessing": meta["preprocessing"],
                "label_map": meta.get("label_map"), "trial_classes": meta.get("trial_classes"),
                "causal": not isinstance(net, BiRNN), "lookahead": lookahead,
                "added_latency_ms": None if lookahead is None else 1000.0 * lookahead / meta["sfreq"],
                "training_files": checkpoint_training_files(path, meta.get("run")),
                "label_window": meta.get("label_window"), "reader": meta.get("reader") or {}}
    from bci_stream.core.registry import open_model_folder, open_model_ref
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.evaluate.inputs import trainer_reading
    from bci_stream.train.evaluate.in_sample import card_training_files

    if models_dir is not None:  # a model folder, its model.json, or a registry name (a folder of it that is no model)
        entry = open_model_ref(target, models_dir)
    elif path.is_dir() or path.name == "model.json":
        entry = open_model_folder(path)
    else:
        raise ModelError(f"model {target!r} is neither a checkpoint (.pt), a model folder nor a registry name "
                         f"(give --models-dir to look it up)")
    StepModel(entry.onnx_path, entry.card)  # refuses a card that disagrees with its graph, before any data is read
    card = entry.card
    class_outputs(card.ref, card.output.kind, card.output.labels)
    return {"kind": "onnx", "name": card.ref, "entry": entry, "ch_names": card.ch_names, "sfreq": card.sfreq,
            "label_names": card.output.labels, "preprocessing": card.preprocessing,
            "label_map": card.training.get("label_map"), "trial_classes": card.training.get("trial_classes"),
            "causal": True, "lookahead": 0, "added_latency_ms": 0.0,
            "training_files": card_training_files(card.training),
            **trainer_reading(card)}  # EEGLAB/XDF: a label window, reader options, to read these files the same way


def check_classes(outputs: list[str], label_map: dict[str, str | None], trial_classes: Sequence[str] | None,
                  default_trial_classes: Sequence[str] | None, *, given: bool = True) -> list[str]:
    """The trial classes to score, checked against the model's outputs and the label map; ModelError otherwise.

    The label map may name the model's classes in any order and leave out any of them (its events are then
    unlabelled), but it must not name a class the model does not output, and every trial class must be an
    output of the model that some event of the map cues.

    Parameters
    ----------
    outputs
        The model's output classes, in output order.
    label_map
        Event -> class (or None: ignored), from ``--labels`` or the model's own.
    trial_classes
        ``--trial-classes``, or None for ``default_trial_classes`` (the model's), else every class of the map.
    given
        Whether ``label_map`` is ``--labels`` (else the model's own): the errors name it so.
    """
    from bci_stream.io.labels import label_names_of

    mapped = label_names_of(label_map)
    if extra := [c for c in mapped if c not in outputs]:
        raise ModelError(f"label_map (--labels): class(es) {extra} are not outputs of the model {outputs}; map "
                         f"events to those classes (by name, any order, any subset) or to nothing (EVENT=)")
    if trial_classes is not None:
        source = "--trial-classes"
        if bad := [c for c in trial_classes if c not in outputs]:
            raise ModelError(f"--trial-classes: {bad[0]!r} is not an output of the model ({', '.join(outputs)})")
        classes = list(trial_classes)
    elif default_trial_classes:
        source, classes = "the model's training.trial_classes", list(default_trial_classes)
    else:
        source = "the classes label_map (--labels) maps to" if given else "the classes of the model's label map"
        classes = [c for c in outputs if c in mapped]
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ModelError(f"trial classes ({source}) must be at least 2 distinct classes, got {classes}")
    if unmapped := [c for c in classes if c not in mapped]:
        raise ModelError(f"trial class(es) {unmapped} ({source}) are cued by no event of the label map "
                         f"{dict(label_map)}; add EVENT={unmapped[0]} to --labels, or "
                         + ("leave the class out of --trial-classes" if trial_classes is not None
                            else "give --trial-classes with classes the label map cues"))
    return classes


def past_span_notes(labels: Sequence[np.ndarray], outputs: Sequence[str], classes: Sequence[str], lead: int,
                    sfreq: float, times_s: Sequence[float]) -> list[str]:
    """A note when a decision time falls after some trials' labelled span ended (the next event came first, e.g.
    EEGMMIDB's rest cue 4.1 s after each task cue): those trials are decided on what followed them."""
    from bci_stream.train.evaluate.metrics import find_trials

    ids = [outputs.index(c) for c in classes]
    trials = [(len(y), tr) for y in labels for tr in find_trials(y, ids, lead)]
    past = {t: sum(lead + tr.length <= round(t * sfreq) and tr.cue + round(t * sfreq) < n for n, tr in trials)
            for t in times_s}
    said = [f"{t:g} s: {k} of {len(trials)}" for t, k in past.items() if k]
    if not said:
        return []
    return [f"trials decided after their labelled span ended (the next event came first), at {'; '.join(said)}: "
            "those decisions read what followed the trial"]


def evaluate_target(target: str, data: Sequence[str | Path], *, label_map: dict[str, str | None] | None = None,
                    trial_classes: list[str] | None = None, models_dir: Path | None = None,
                    times_s: Sequence[float] = (0.5, 1.0, 2.0, 2.5, 3.0),
                    reader_options: Mapping[str, Any] | None = None,
                    channel_names: Sequence[str] | None = None, bad_events: Sequence[str] = ()) -> dict[str, Any]:
    """Metrics (:func:`bci_stream.train.evaluate.metrics.evaluate_probs`) of ``target`` over the files ``data``.

    ``reader_options`` (``--stream``, ``--marker-stream``) and ``channel_names`` (``--channel-names``) read the
    files as ``calibrate`` reads its own (:mod:`bci_stream.train.evaluate.inputs`). The result also says whether the
    net is causal (``causal``, ``lookahead`` K, ``added_latency_ms``; None for a bidirectional net; for either, with
    K > 0, the ``non_causal`` sentence, first of the ``notes``, says its figures are offline only,
    :func:`non_causal_note`) and holds ``warnings`` (one sentence per file the model was trained on; one per file
    whose cues are followed by the next event before a decision time,
    :func:`~bci_stream.train.label_spacing.decision_spacing_warning`; the report gives them first), ``notes`` (how
    files were read; NaN/inf values replaced; trials left out) and ``nonfinite_values`` (per file). Decision times
    count from each cue, also for a model trained with a label window (its card's ``data.label_window``: labels from
    cue + start_s). Trials whose span (cue to the latest of ``times_s``) overlaps data a file marks bad are left out
    as ``calibrate`` leaves them out (:func:`~bci_stream.train.evaluate.inputs.leave_out_bad_trials`;
    ``bad_events``: ``--bad-events``, checked as ``calibrate`` checks them,
    :func:`~bci_stream.train.classical.bad_spans.check_bad_events`), listed in ``trials_left_out``, and the samples
    of marked data are not scored either. Without ``label_map`` the model's own map scores the files, less its
    events none of them holds
    (:func:`~bci_stream.train.evaluate.inputs.held_label_map`, with a note).
    """
    from bci_stream.train.evaluate.in_sample import in_sample_warnings, repeated_files
    from bci_stream.train.evaluate.one_class import one_class_warning
    from bci_stream.train.evaluate.scale_check import scale_warnings
    from bci_stream.train.classical.bad_spans import LIMIT_UV, check_bad_events, nonfinite_note
    from bci_stream.train.evaluate.inputs import (file_options, held_label_map, leave_out_bad_trials, load_for_model,
                                                  remapped_events)
    from bci_stream.io.labels import window_lead
    from bci_stream.train.evaluate.metrics import evaluate_probs, undecidable_times
    from bci_stream.train.label_spacing import decision_spacing_warning

    t = _load_target(target, models_dir)
    given = bool(label_map)  # else the card's: its events the files do not hold are dropped (held_label_map)
    remapped = remapped_events(label_map, t["label_map"]) if label_map else []  # e.g. swapped classes
    label_map = label_map or t["label_map"]
    if not label_map:
        raise ModelError(f"{target}: no label map in its card/checkpoint; give --label-map EVENT=CLASS")
    paths = [Path(p) for p in data]
    options = file_options(paths, reader_options or {}, t["reader"])
    loaded = [load_for_model(p, label_map, t["ch_names"], options=o, channel_names=channel_names,
                             label_window=t["label_window"], sfreq=t["sfreq"]) for p, o in zip(paths, options)]
    cues = {str(k) for k, v in label_map.items() if v is not None}
    recs = [d.rec for d in loaded]
    if (twice := repeated_files(recs, "--data")) is not None:  # its trials would be counted twice
        raise ModelError(twice)
    events = [e for r in recs for e in r.events]
    held_map, map_notes = held_label_map(label_map, events, given=given, what="files", error=ModelError)
    outputs = list(t["label_names"])
    try:
        classes = check_classes(outputs, held_map, trial_classes, t["trial_classes"], given=given)
    except ModelError as exc:
        raise ModelError(f"{exc} ({map_notes[0]})" if map_notes else str(exc)) from None
    left_out = [x for d in loaded
                if (x := leave_out_bad_trials(d, bad_events, max(times_s), cues=cues, scored=classes)) is not None]
    bad_notes = check_bad_events(bad_events, label_map, events, span_s=max(times_s),
                                 marked={why for x in left_out for why in x.pop("overlapped")}, error=ModelError)
    label_map = held_map
    # each file's class indices (label map order) -> the model's output indices; -1 (unlabelled) stays -1
    labels = [np.array([outputs.index(n) for n in rec.label_names] + [-1], dtype=np.int64)[rec.labels]
              for rec in recs]
    lead = window_lead(t["label_window"], t["sfreq"])  # a label window's start: decisions at cue + t all the same
    if (late := undecidable_times(labels, [outputs.index(c) for c in classes], lead, t["sfreq"], times_s)) is not None:
        raise ModelError(late)  # before decoding: a time past every trial's file decides nothing
    probs = []
    for d in loaded:
        if t["kind"] == "onnx":
            from bci_stream.engine.offline import decode_offline

            probs.append(decode_offline(t["entry"], d.x))
        else:
            from bci_stream.dsp.preprocess import NonFiniteGuard, Preprocessor
            from bci_stream.train.infer import predict_probs

            guard = NonFiniteGuard(len(t["ch_names"]))  # as the service and decode_offline do, ±1 V bound included
            guard.limit = np.full(len(t["ch_names"]), LIMIT_UV, dtype=np.float32)
            x = guard.apply(d.x.copy())
            z = Preprocessor(t["preprocessing"], len(t["ch_names"]), t["sfreq"]).process(x)
            probs.append(predict_probs(t["net"], z))
    metrics = evaluate_probs(probs, labels, outputs, classes, t["sfreq"], times_s, lead=lead)
    notes = map_notes + [n for d in loaded for n in d.notes]
    notes += [nonfinite_note(d.rec.source, d.nonfinite, "in the model's channels", n_beyond=d.beyond)
              for d in loaded if d.nonfinite]
    notes += [x.pop("sentence") for x in left_out] + bad_notes + past_span_notes(labels, outputs, classes, lead,
                                                                                  t["sfreq"], times_s)
    non_causal = None if t["causal"] else non_causal_note(t["name"], t["lookahead"], t["sfreq"])
    notes = ([non_causal] if non_causal else []) + notes
    spacing = [w for rec in recs if (w := decision_spacing_warning(rec, label_map, t["label_window"], classes,
                                                                    times_s)) is not None]
    return {"target": str(target), "model": t["name"], "kind": t["kind"], "files": [str(r.source) for r in recs],
            "label_map": dict(label_map), "trial_classes": list(classes), "causal": t["causal"],
            "lookahead": t["lookahead"], "added_latency_ms": t["added_latency_ms"], "non_causal": non_causal,
            "warnings": remapped + in_sample_warnings([r.source for r in recs], t["training_files"], recs) + spacing
            + scale_warnings(t["training_files"], recs, t["ch_names"])
            + [w for w in [one_class_warning(metrics["trial_accuracy"])] if w is not None],
            "notes": notes,
            "nonfinite_values": {str(d.rec.source): d.nonfinite for d in loaded}, "trials_left_out": left_out,
            "bad_events": list(bad_events), "metrics": metrics}


def non_causal_note(name: str, lookahead: int | None = None, sfreq: float | None = None) -> str | None:
    """What offline figures of a bidirectional net are (None for ``lookahead == 0``: its outputs read no later
    sample). ``lookahead`` None: each output saw the whole file (one pass over it,
    :func:`~bci_stream.train.infer.predict_probs`), samples after its decision time included. ``lookahead`` K > 0
    (``train``'s ``lookahead_<K>``): each output at sample ``t`` read the samples up to ``t + K``. Neither runs in the
    service: it runs exported step graphs only, and export refuses any bidirectional net
    (:func:`~bci_stream.train.export.onnx_export.export_model`: it reads the future); ``evaluate --live`` takes no
    checkpoint. The service has no way to delay a decoder's outputs by K samples either: these figures are offline
    only."""
    deploy = ("a bidirectional net is not deployable: export refuses it and the service, which runs exported causal "
              "step graphs only, never runs it; export.model is causal or student")
    if lookahead is None:
        return (f"non-causal: {name} is a bidirectional net; each of its outputs used the whole recording, samples "
                "after the decision time included, so these figures are offline upper bounds that a causal decoder "
                f"cannot reach online ({deploy})")
    if lookahead <= 0:
        return None
    ahead = f"{lookahead} samples, {lookahead / sfreq:g} s" if sfreq else f"{lookahead} samples"
    return (f"non-causal: {name} is a bidirectional net with a lookahead of K = {ahead}; each of its outputs used the "
            "samples up to K after its own, so the figure at each decision time t read data up to t + K, which a "
            "causal decoder deciding at t has not seen: these are offline figures, not what the causal service can "
            f"reach at t ({deploy}; the service cannot delay a model's outputs by K either, so no decoder it runs "
            "answers for t once t + K has arrived)")


def write_evaluation(result: dict[str, Any], out_dir: Path) -> None:
    """``evaluation.json``, ``evaluation.md`` and ``accuracy_vs_time.png`` in ``out_dir``."""
    from bci_stream.train.evaluate.report import write_report

    row = {"causal": result.get("causal", True), "lookahead": result.get("lookahead", 0),
           "added_latency_ms": result.get("added_latency_ms", 0.0), "test": result["metrics"]}
    report = {"run": f"evaluation of {result['model']}", "evaluation": result, "models": {result["model"]: row},
              "notes": [f"warning: {w}" for w in result.get("warnings", [])] + list(result.get("notes", []))}
    write_report(report, out_dir, stem="evaluation")
