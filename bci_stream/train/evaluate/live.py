"""Score a decoder the way it runs: held-out recordings replayed on LSL through a real service.

Per recording: :func:`bci_stream.sim.replay.run_replay` streams it (all channels: the service picks the
model's by label), ``POST /decoders`` of an in-process :class:`~bci_stream.api.server.BackgroundServer`
decodes it, and a pylsl inlet reads every sample of ``<name>-decoded``. Each keeps its input's timestamp,
so it goes back to its sample index (the replay's cue markers anchor the grid) and is scored by the
offline code (:func:`~bci_stream.train.evaluate.metrics.evaluate_probs`, *instant* rule: argmax over the
trial classes at cue + t) with a Wilson 95 % interval, on the trials offline ``evaluate`` scores: those
touching data a file marks bad (``bad*`` annotations, discontinuities, NaN/inf stretches plus settling,
``--bad-events``) are left out by its rule (:func:`leave_out_marked`) and listed (``trials_left_out``, notes).
Checked over every sample: decoded == sent, max |live - offline| (:func:`bci_stream.engine.offline.decode_offline`);
per scored trial: the same decisions. The epoch CSP+LDA baseline (:func:`~bci_stream.train.evaluate.baseline.csp_lda`)
and the epoch TS+LR baseline (:func:`~.baseline.ts_lr`) fitted on ``reference_train`` are scored on the same trials
(less any whose epoch, when it ends after the latest decision time, reaches marked data: said in the notes). The
service's own live trial score (its status ``scoring``) is compared with that offline rule at the service's decision
time, trial by trial, on every cue: the service scores every cue, the left-out ones too
(:mod:`~bci_stream.train.evaluate.live_scoring`). The replay and the service's side of each recording are in
:mod:`~bci_stream.train.evaluate.live_service`. A file whose cues are followed by the next event that ends a cue
before a decision time (or within the references' epoch) is warned of before the replay, as offline ``evaluate`` warns
of it (:func:`~bci_stream.train.label_spacing.decision_spacing_warning`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.train.classical.distinct_runs import copy_words
from bci_stream.train.evaluate.inputs import (REFERENCE, file_options, held_label_map, remapped_events,
                                              replay_note, trainer_reading)
from bci_stream.train.evaluate.live_scoring import (keep_trials, scorer_history_s, service_vs_offline,
                                                    service_vs_offline_line)
from bci_stream.train.evaluate.live_service import (LiveEvaluationError, place_on_grid, sample_index,
                                                    saturation_note, stream_through_service)
from bci_stream.train.evaluate.live_trials import (cue_trials, decisions, leave_out_marked, left_out_cues,
                                                   load_streamed, undecided_notes)
from bci_stream.train.evaluate.metrics import wilson_ci
from bci_stream.train.evaluate.one_class import one_class_warning
from bci_stream.train.label_spacing import decision_spacing_warning

DECISION_TIMES = (0.5, 1.0, 2.0, 3.0)  #: default decision times after cue onset (s)
MAX_SPEED = 32.0  #: largest replay speed accepted (times real time)
TOLERANCE = 1e-4  #: largest accepted max |live - offline| (float32 rounding through the service)


def _resolve_model(model_ref: str, models_dir: Path | str | None) -> tuple[Any, Path, str]:
    """Verified registry entry of ``model_ref`` (registry name, or model folder in a registry), its registry, ref."""
    from bci_stream.core.registry import ModelRegistry, read_card

    if Path(model_ref).suffix == ".pt":
        raise LiveEvaluationError(f"model_ref must be an exported model (registry name or model folder) for a live "
                                  f"evaluation: the service runs ONNX step graphs; got checkpoint {model_ref!r}")
    if (Path(model_ref) / "model.json").is_file():  # a model folder: served from the registry it sits in
        models_dir, model_ref = Path(model_ref).resolve().parent, read_card(Path(model_ref) / "model.json").ref
    if models_dir is None:
        raise LiveEvaluationError(f"models_dir must be given to look up model_ref {model_ref!r} (a registry name)")
    return ModelRegistry(models_dir).get(model_ref), Path(models_dir), model_ref


def _classes(card: Any, label_names: list[str], trial_classes: Sequence[str] | None) -> list[str]:
    """Trial classes: given, else the card's (those in the label map), else every class of the label map."""
    from bci_stream.train.evaluate.output_kind import class_outputs
    outputs = class_outputs(card.ref, card.output.kind, card.output.labels)  # regression outputs refused at once
    if missing := [n for n in label_names if n not in outputs]:
        raise LiveEvaluationError(f"label_map (--labels) must map events to classes the model outputs ({outputs}); "
                                  f"got {missing}")
    from_card = [c for c in (card.training.get("trial_classes") or []) if c in label_names]
    classes = list(trial_classes or (from_card if len(from_card) >= 2 else label_names))
    if bad := [c for c in classes if c not in label_names]:
        raise LiveEvaluationError(f"trial_classes (--trial-classes) must be classes of the label map ({label_names}); "
                                  f"got {bad}")
    if len(classes) < 2:
        raise LiveEvaluationError(f"trial classes (--trial-classes, else the label map's) must be at least 2 classes, "
                                  f"got {classes}")
    return classes


def _summary(metrics: dict[str, Any], times: Sequence[float]) -> dict[str, Any]:
    """Trials, chance, and the *instant* rule of :func:`evaluate_probs` at each time with its Wilson 95 % CI."""
    rows = {f"{t:g}s": metrics["trial_accuracy"][f"{t:g}s"] for t in times}
    acc = {key: {"accuracy": r["instant"], "correct": int(r.get("instant_correct", 0)), "n_trials": r["n_trials"],
                 "ci95": wilson_ci(r.get("instant_correct", 0), r["n_trials"]),
                 "p_vs_chance": r.get("instant_p_vs_chance"), "per_class": r.get("instant_per_class")}
           for key, r in rows.items()}
    return {"chance": metrics["chance_trial_accuracy"], "n_trials": metrics["n_trials"],
            "trials_per_class": metrics["trials_per_class"], "accuracy": acc, "metrics": metrics}


def references(train: list[dict[str, Any]], tests: list[dict[str, Any]], sfreq: float, class_ids: list[int],
               window_s: tuple[float, float], *, bad_events: Sequence[str] = (), cues: Collection[str] = (),
               scored: Collection[str] | None = None) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """The epoch references (``reference``: CSP+LDA, ``reference_ts_lr``: TS+LR) fitted on ``train`` and scored on
    ``tests`` (:func:`~bci_stream.train.evaluate.baseline.reference`), None without ``train``, and their notes.

    A reference that fails (e.g. no trial of a class left in ``train``) is ``{"method", "error"}`` with a warning
    note: it is context for the live figures, and its failure must not lose a live run of many minutes.
    """
    from bci_stream.train.evaluate.baseline import csp_lda, reference, ts_lr

    refs: dict[str, dict[str, Any] | None] = {}
    notes: list[str] = []
    for key, method, fit in (("reference", "CSP+LDA", csp_lda), ("reference_ts_lr", "TS+LR", ts_lr)):
        if not train:
            refs[key] = None
            continue
        try:
            refs[key] = reference(fit, train, tests, sfreq, class_ids, window_s=window_s, bad_events=bad_events,
                                  cues=cues, scored=scored)  # epochs from each cue (the recordings' lead)
        except Exception as exc:  # noqa: BLE001 - any failure of a baseline: said, and the live result kept
            why = f"{type(exc).__name__}: {exc}"
            refs[key] = {"method": method, "error": why}
            notes.append(f"warning: the {method} epoch reference failed ({why}); the live results stand without it")
        else:
            notes += refs[key].pop("notes")
    return refs, list(dict.fromkeys(notes))


def evaluate_live(model_ref: str, files: Sequence[str | Path], label_map: Mapping[str, str | None] | None = None,
                  *, models_dir: Path | str | None, speed: float = 4.0,
                  decision_times: Sequence[float] = DECISION_TIMES, trial_classes: Sequence[str] | None = None,
                  reference_train: Sequence[str | Path] | None = None,
                  reference_window_s: tuple[float, float] = (0.5, 2.5), tolerance: float = TOLERANCE,
                  timeout: float = 60.0, echo: Callable[[str], None] | None = None,
                  reader_options: Mapping[str, Any] | None = None,
                  channel_names: Sequence[str] | None = None, bad_events: Sequence[str] = (),
                  log_level: str | None = None, port: int = 0) -> dict[str, Any]:
    """Replay ``files`` through a real service decoding with ``model_ref`` and score its decoded stream.

    Parameters
    ----------
    model_ref, models_dir
        Registry name (``name`` or ``name@version``) in the registry ``models_dir`` (which the in-process
        service serves), or a model folder in a registry.
    files
        Held-out recordings (any format ``load_recording`` reads), replayed with all their channels.
    label_map
        Event → class name (``None`` ignores it); classes must be model outputs. Default: the card's, less its
        events the test (or reference) files do not hold (:func:`~bci_stream.train.evaluate.inputs.held_label_map`);
        the test files' map is ``settings.label_map``; the service's ``marker_map`` maps non-trial classes to None.
    speed
        Replay pace, times real time (``1 <= speed <= 32``; 4–8 at 160 Hz; slower than real time would read as
        sample loss). Outputs do not depend on it.
    decision_times, trial_classes
        Seconds after cue onset at which each trial is decided; the classes scored per trial (default
        the card's that the label map has, else the label map's).
    reference_train, reference_window_s
        Calibration recordings to fit the epoch CSP+LDA and TS+LR baselines on, and their epoch after cue (s);
        they decide at ``reference_window_s[1]``. They read every file with NaN/inf held and the trials overlapping
        data it marks bad left out (:func:`~bci_stream.train.evaluate.baseline.reference_input`, said in ``notes``).
    reader_options, channel_names
        ``--stream`` / ``--marker-stream`` (format options, each given to the files whose format takes it) and
        ``--channel-names``, for ``files`` and ``reference_train`` alike (:mod:`bci_stream.train.evaluate.inputs`).
    bad_events
        ``--bad-events``: events that mark bad data. The trials of ``files`` whose span (cue to the latest decision
        time) overlaps data a file marks bad (these events, ``bad*`` annotations, discontinuities, NaN/inf
        stretches plus settling) are left out of the accuracy figures and the epoch references' test trials, as
        offline ``evaluate`` leaves them out (:func:`leave_out_marked`); those of ``reference_train`` (cue to
        ``reference_window_s[1]``) out of the references' fit. Every sample is still replayed, decoded and checked
        (``no_loss``, ``max_abs_diff``), and the service's own live score is compared on every cue
        (:mod:`~bci_stream.train.evaluate.live_scoring`).
    tolerance, timeout, echo
        Largest ``max |live - offline|`` accepted by ``checks["passed"]``; seconds to wait for the decoder (and its
        marker follower) and for its output beyond the replay's duration; called with one progress line per step
        (and per file the service's live score beside the offline one), or None.
    log_level
        The in-process service's log level, its workers' too, unless the user set one (``BCI_STREAM_LOG_LEVEL`` in
        the environment or ``.env``, the config file's ``log_level``: kept); None: the setting's, else ``info``.
        Handed to them, this process's environment untouched.
    port
        The in-process service's port on 127.0.0.1 (``--port``; 0: a free one); one in use is refused before any work.

    Returns
    -------
    dict
        ``model``, ``settings``, ``files`` (per recording: ``sent``, ``decoded``, ``missing``,
        ``max_abs_diff``, ``decisions_identical``, ``accuracy`` per decision time with Wilson ``ci95``,
        ``chance``, per-trial ``trials`` live and offline, the service's final counters and live ``scoring``,
        ``service_vs_offline``: that score beside the offline rule's at the service's decision time,
        :func:`~bci_stream.train.evaluate.live_scoring.service_vs_offline`, ``metrics``), ``overall`` (pooled),
        ``bad_events`` (as offline ``evaluate`` gives them; also in ``settings``), ``trials_left_out`` (per test file
        with a trial left out: ``file``, ``n``, ``by_reason`` by class, as
        offline ``evaluate`` gives it; each also said in ``notes``),
        ``reference`` (CSP+LDA or None), ``reference_ts_lr`` (TS+LR or None; either ``{"method", "error"}`` when
        it failed: :func:`references`), ``checks`` (``passed``: no loss, ``max_abs_diff <= tolerance`` and
        ``service_scoring_identical`` in every file), ``notes``.

    Raises
    ------
    LiveEvaluationError
        Bad arguments (naming the parameter and the value), or a service or replay that failed.
    """
    import httpx

    from bci_stream.api.server import BackgroundServer, bind_problem
    from bci_stream.io.labels import label_names_of, window_lead
    from bci_stream.engine.offline import decode_offline
    from bci_stream.core.settings_errors import load_settings
    from bci_stream.train.classical.bad_spans import check_bad_events
    from bci_stream.train.evaluate.metrics import evaluate_probs, find_trials, undecidable_times
    from bci_stream.train.evaluate.in_sample import card_training_files, in_sample_warnings, repeated_files
    from bci_stream.train.evaluate.scale_check import scale_warnings

    say = echo or (lambda _line: None)
    if port and (busy := bind_problem("127.0.0.1", port)) is not None:
        raise LiveEvaluationError(f"port (--port) {port}: {busy}; give another, or none (a free one)")
    if not files:
        raise LiveEvaluationError("files must name at least one recording; got none")
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and 1 <= speed <= MAX_SPEED):
        raise LiveEvaluationError(f"speed must be >= 1 and <= {MAX_SPEED:g} (times real time; slower replays read as "
                                  f"sample loss), got {speed!r}")
    times = [float(t) for t in decision_times]
    if not times or not all(math.isfinite(t) and t >= 0 for t in times):
        raise LiveEvaluationError(f"decision_times must be finite seconds >= 0 (at least one), got {times}")
    entry, registry_dir, ref = _resolve_model(model_ref, models_dir)
    card, outputs, sfreq = entry.card, list(entry.card.output.labels), float(entry.card.sfreq)
    given = bool(label_map)  # else the card's: its events the files do not hold are dropped (held_label_map)
    label_map = dict(label_map or card.training.get("label_map") or {})
    if not label_map:
        raise LiveEvaluationError(f"label_map (--labels) must be given: model {card.ref} has no training.label_map")
    classes = _classes(card, label_names_of(label_map), trial_classes)
    class_ids = [outputs.index(c) for c in classes]
    paths, ref_paths = [Path(f) for f in files], [Path(f) for f in (reference_train or [])]
    options = file_options(paths + ref_paths, reader_options or {}, trainer_reading(card)["reader"])
    tests = [load_streamed(f, label_map, card, o, channel_names, "--data") for f, o in zip(paths, options)]
    # a test file the model was trained on (or its samples), said before the replay (as offline evaluate says it)
    training = card_training_files(card.training)
    recs = [d["rec"] for d in tests]
    remapped = remapped_events(label_map, card.training.get("label_map")) if given else []  # e.g. swapped classes
    in_sample = [f"warning: {w}" for w in remapped + in_sample_warnings(paths, training, recs)
                 + scale_warnings(training, recs, card.ch_names)]
    for line in in_sample:
        say(line)
    train = [load_streamed(f, label_map, card, o, channel_names, REFERENCE)
             for f, o in zip(ref_paths, options[len(paths):])]
    for flag, loaded in (("--data", tests), (REFERENCE, train)):  # a file given twice: its trials counted twice
        if (twice := repeated_files([d["rec"] for d in loaded], flag)) is not None:
            raise LiveEvaluationError(twice)
    cue_events = {str(k) for k, v in label_map.items() if v is not None}
    marked = [leave_out_marked(d, bad_events, max(times), cue_events, classes) for d in tests]  # as offline evaluate
    fit_marked = [x for d in train
                  if (x := leave_out_marked(d, bad_events, reference_window_s[1], cue_events, classes)[0])]
    left_out = [x for x, _ in marked if x is not None]
    overlapped = {why for x in left_out + fit_marked for why in x.pop("overlapped")}
    left_notes = [x.pop("sentence") for x in left_out] + [f"epoch references: {x.pop('sentence')}" for x in fit_marked]
    left_notes += check_bad_events(bad_events, label_map, [e for d in tests + train for e in d["rec"].events],
                                   marked=overlapped, span_s=max(times), error=LiveEvaluationError)
    held = [held_label_map(label_map, [e for d in loaded for e in d["rec"].events], given=given, what=what,
                           error=LiveEvaluationError, classes=classes)
            for what, loaded in (("test files", tests), (f"{REFERENCE} files", train)) if loaded]
    label_map, map_notes = held[0][0], [n for _, notes in held for n in notes] + replay_note(card)  # the test files'
    marker_map = {k: (v if v in classes else None) for k, v in label_map.items()}  # the service scores trial classes
    window, epoch = trainer_reading(card)["label_window"], tuple(reference_window_s) if train else None
    spacing = [f"warning: {w}" for (lmap, _), files, at, role in zip(held, (tests, train), (times, ()),
                                                                     ("", f"{REFERENCE} file "))
               for d in files if (w := decision_spacing_warning(d["rec"], lmap, window, classes, at, epoch_s=epoch,
                                                                role=role))]
    if (late := undecidable_times([d["labels"] for d in tests], class_ids, window_lead(window, sfreq), sfreq,
                                  times)) is not None:  # a time past every trial's file: refused before the replay
        raise LiveEvaluationError(late)
    for line in spacing + [n for n in left_notes if n.startswith("warning:")]:  # said before the replay (a typo)
        say(line)

    # a service of its own: the deployment's [[decoders]] (BCI_STREAM_CONFIG) are not started in it (before, a lab's
    # decoders got second copies, their outlets and recordings, for the evaluation: audit s66cli F8)
    settings = load_settings(host="127.0.0.1", port=port, models_dir=registry_dir, decoders=[])
    if log_level and "log_level" not in settings.model_fields_set:  # (a level the user set is kept: review s62 F3)
        settings = settings.model_copy(update={"log_level": log_level})
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    per_file, live_all, speed_notes = [], [], []
    lead = window_lead(window, sfreq)  # a cue's labels start lead samples after it
    with BackgroundServer(settings) as server, httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        say(f"service on {server.url}; model {card.ref} (sha256 {card.sha256[:12]}), replay at {speed:g}x")
        for d, (_, unscored) in zip(tests, marked):
            rec, t_start, period = d["rec"], time.monotonic(), 1.0 / (sfreq * speed)
            cues = [e.description for e in rec.events if e.onset < rec.n_times]  # the replay's markers
            markers = {"marker_map": marker_map, "keep_trials": keep_trials(marker_map, cues),
                       "history_s": scorer_history_s(speed, sfreq)}
            run = stream_through_service(client, ref, rec, speed, card, timeout, markers)
            idx, anchor, off_grid, t0 = sample_index(run["ts"], run["markers"], rec, period)
            live, counts = place_on_grid(run["y"], idx, rec.n_times)
            offline = decode_offline(entry, d["x"]).astype(np.float64)
            got = np.unique(idx[(idx >= 0) & (idx < rec.n_times)])
            max_diff = float(np.abs(live[got] - offline[got]).max()) if len(got) else float("nan")
            m_live = evaluate_probs([live], [d["labels"]], outputs, classes, sfreq, times, lead=lead)
            segs = find_trials(d["labels"], class_ids, lead)
            trials = [{**a, "offline_decisions": b["decisions"]} for a, b in zip(
                *(decisions(p, segs, class_ids, outputs, sfreq, times) for p in (live, offline)))]
            scoring = run["service"]["scoring"] or {}  # beside the offline rule at its decision time, cue by cue
            at = [scoring["decision_time_s"]] if "trials" in scoring else []
            cued = cue_trials(rec, marker_map, outputs)
            vs = service_vs_offline(scoring, decisions(live, cued, class_ids, outputs, sfreq, at), t0,
                                    period, sfreq, left_out=left_out_cues([tr.onset for tr in cued], unscored,
                                                                          lead))
            c = run["service"]["counters"]
            no_loss = (run["sent"] == run["received"] == rec.n_times and not any(counts.values())
                       and c.get("samples_in") == c.get("samples_out") == rec.n_times
                       and not c.get("samples_lost") and not c.get("gaps"))
            live_all.append(live)
            per_file.append({
                "file": str(rec.source), "n_times": rec.n_times, "seconds": rec.duration, "sent": run["sent"],
                "decoded": run["received"], **counts, "no_loss": no_loss, "max_abs_diff": max_diff,
                "decisions_identical": all(t["decisions"] == t["offline_decisions"] for t in trials),
                "index_anchor": anchor, "max_off_grid": off_grid, "max_lag_s": run["max_lag_s"],
                "wall_s": time.monotonic() - t_start, "stream": run["stream"], "service": run["service"],
                "nonfinite_values": int(c.get("nonfinite_values") or 0), **_summary(m_live, times), "trials": trials,
                "service_vs_offline": vs})
            say(f"{Path(rec.source).name}: sent {run['sent']}, decoded {run['received']}, missing {counts['missing']}, "
                f"max |live - offline| {max_diff:.2g}, same decisions: {per_file[-1]['decisions_identical']}; "
                f"stream '{run['stream']}'")
            say(service_vs_offline_line(Path(rec.source).name, vs))
            if (note := saturation_note(run["saturated"], speed, sfreq, Path(rec.source).name)) is not None:
                say(f"note: {note}")  # after the service's own warning in the log: what it means at 1x
                speed_notes.append(note)
    m_live = evaluate_probs(live_all, [d["labels"] for d in tests], outputs, classes, sfreq, times, lead=lead)
    overall = {**{k: sum(r[k] for r in per_file) for k in ("sent", "decoded", "missing")},
               "max_abs_diff": max(r["max_abs_diff"] for r in per_file),
               "decisions_identical": all(r["decisions_identical"] for r in per_file), **_summary(m_live, times)}
    refs, ref_notes = references(train, tests, sfreq, class_ids, tuple(reference_window_s), bad_events=bad_events,
                                 cues=cue_events, scored=classes)
    ref_notes += [f"warning: {REFERENCE} {t['rec'].source} {said}: the epoch references are fitted on a test file, so "
                  f"their figures are in-sample, not a test" for t in train for d in tests  # a copy, cropped or not
                  if (said := copy_words(d["rec"], t["rec"], f"--data {d['rec'].source}")) is not None]
    checks = {"no_loss": all(r["no_loss"] for r in per_file), "max_abs_diff": overall["max_abs_diff"],
              "tolerance": tolerance, "decisions_identical": overall["decisions_identical"],
              "service_scoring_identical": all((r["service_vs_offline"] or {}).get("identical", True)
                                               for r in per_file)}
    checks["passed"] = bool(checks["no_loss"] and checks["max_abs_diff"] <= tolerance
                            and checks["service_scoring_identical"])
    rule = "instant: argmax over the trial classes of the output at cue + t"
    return {"model": card.ref, "sha256": card.sha256, "kind": "live",
            "settings": {"speed": speed, "decision_times_s": times, "decision_rule": rule, "label_map": label_map,
                         "trial_classes": classes, "uniform_chance": 1.0 / len(classes),
                         "models_dir": str(registry_dir), "bad_events": list(bad_events)},
            "files": per_file, "overall": overall, "bad_events": list(bad_events), "trials_left_out": left_out, **refs,
            "checks": checks,
            "notes": (in_sample + spacing + map_notes + [n for d in tests + train for n in d["notes"]] + left_notes
                      + ref_notes + speed_notes + undecided_notes(per_file, times)
                      + [f"warning: {w}" for w in [one_class_warning(m_live["trial_accuracy"])] if w is not None])}
