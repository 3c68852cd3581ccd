"""Where a training run writes, checked before it trains; and the live-scoring field of its exported card.

A run refuses (before any training) a run folder that already holds files, an export folder that already
holds a model, and an export of a net the service cannot run, unless told otherwise: ``--overwrite``
replaces the previous run's files (and only those) and the exported model. So a folder never mixes two runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bci_stream.core.out_folder import out_folder_problem
from bci_stream.train.config import ConfigError, RunConfig

#: What a run stopped by Ctrl-C or SIGTERM leaves in its run folder beside what it wrote (:func:`note_interrupted`).
INTERRUPTED = "interrupted.json"
#: Everything a run writes into its run folder (``checkpoints/`` holds one ``<stage>.pt`` per stage).
RUN_FILES = ("config.toml", "config.json", "checkpoint.pt", "report.json", "report.md", "accuracy_vs_time.png",
             "lookahead.png", "training.png", "training_files.json", INTERRUPTED)
#: The run's training files' sha256 digests and content prints (by split, as a card's ``training.files_sha256`` and
#: ``files_content``): ``evaluate CHECKPOINT`` finds a renamed or re-saved copy of one as an exported card does.
TRAINING_FILES = "training_files.json"


def write_training_files(out: Path, config: RunConfig, prints: Any) -> None:
    """:data:`TRAINING_FILES` in the run folder ``out`` (``prints``: the dataset's ``files_content``)."""
    import json

    from bci_stream.core.card import sha256_file

    digests = {s: [sha256_file(p) for p in config.data_files(s)] for s in ("train", "validation", "test")}
    (out / TRAINING_FILES).write_text(json.dumps({"files_sha256": digests, "files_content": prints}) + "\n",
                                      encoding="utf-8")


def export_dir(config: RunConfig) -> Path:
    """The folder the model is exported to: ``export.dir``, default ``models/<export.name or name>``."""
    return config.path(config.export.dir or f"models/{config.export.name or config.name}")


def export_version(config: RunConfig) -> tuple[str, str | None]:
    """The version of the exported card, and why it is not ``export.version`` (None when it is).

    As ``bci-stream calibrate``'s (:func:`~bci_stream.train.classical.model_version.version_to_write`): a
    ``NAME@VERSION`` that the registry folder (the export folder's parent) or the export folder (the model
    ``--overwrite`` replaces) already holds is never written again, so two different models never show as one
    ``NAME@VERSION``. ``export.version`` when no model of the name is there, or when it is above every one there;
    else the highest one there with its last number + 1 (``1.0.0`` → ``1.0.1``).
    """
    from bci_stream.train.classical.model_version import version_to_write

    target, name, wanted = export_dir(config), config.export.name or config.name, config.export.version
    version, top = version_to_write(target.parent, name, wanted, folder=target)
    if version == wanted:
        return version, None
    return version, (f"version: {name}@{version}, after {name}@{top} in {target.parent} (export.version "
                     f"{wanted!r} is not above it; a new version, so that the registry, a decoder's status, its "
                     f"decoded stream and recordings tell the two models apart)")


def check_outputs(config: RunConfig, export: bool, overwrite: bool) -> None:
    """Refuse, before training, what would fail or mix runs afterwards.

    Parameters
    ----------
    export
        Whether this run exports (``export.enabled`` unless ``--export/--no-export`` says otherwise).
    overwrite
        ``--overwrite``: a previous run's folder and an existing exported model may be replaced.

    Raises
    ------
    ConfigError
        The run folder is not empty, or the export folder holds a model (without ``overwrite``); or the
        export is on for a net the service cannot stream (``model.attention_window``).
    """
    if export and config.model.attention_window:
        raise ConfigError(f"model.attention_window = {config.model.attention_window} makes the net offline-only "
                          f"(its state is more than h0/c0), so it cannot be exported: set export.enabled = false "
                          f"or pass --no-export")
    out = config.out_dir
    folders = [(out, "run folder (--out, else output.dir)")] + ([(export_dir(config), "export folder (export.dir)")]
                                                              if export else [])
    for folder, what in folders:
        if (why := out_folder_problem(folder, what)) is not None:
            raise ConfigError(why)
    if not overwrite and out.is_dir() and any(out.iterdir()):
        held = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
        listing = ", ".join(held[:6]) + (", …" if len(held) > 6 else "")
        which = "an interrupted run's files" if (out / INTERRUPTED).is_file() else "a previous run's results"
        raise ConfigError(f"run folder {out} (--out, else output.dir) already holds files ({listing}): {which} "
                          f"would mix with this one's; give another folder with --out, or pass --overwrite to "
                          f"replace that run")
    target = export_dir(config)
    if export and not overwrite and (target / "model.json").exists():
        raise ConfigError(f"export folder {target} (export.dir) already holds a model ({exported_model(target)}); "
                          f"pass --overwrite to replace it, set export.dir to another folder, or pass --no-export")


def exported_model(folder: Path) -> str | None:
    """``NAME@VERSION (sha256 <first 12>…)`` of the card in ``folder``; None without one, the file's own words
    when it is not a readable card (it is only named here, not loaded)."""
    import json

    path = folder / "model.json"
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        return f"{card['name']}@{card['version']} (sha256 {str(card['sha256'])[:12]}…)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{path.name} unreadable as a model card"


def clear_previous_run(out: Path) -> list[str]:
    """Delete the files a previous run wrote in ``out`` (:data:`RUN_FILES`, ``checkpoints/*.pt``), nothing else.

    Returns the names deleted.
    """
    gone = []
    for name in RUN_FILES:
        if (out / name).is_file():
            (out / name).unlink()
            gone.append(name)
    ckpt = out / "checkpoints"
    if ckpt.is_dir():
        for p in sorted(ckpt.glob("*.pt")):
            p.unlink()
            gone.append(f"checkpoints/{p.name}")
        if not any(ckpt.iterdir()):
            shutil.rmtree(ckpt)
    return gone


def note_interrupted(out: Path, log) -> None:
    """A run stopped (Ctrl-C, SIGTERM) after it began writing in ``out``: :data:`INTERRUPTED` says so (when, and the
    files the run left), and ``log`` tells what the folder holds. Before, the folder held a config and some
    checkpoints with no word that the run never ended (audit s68train F3)."""
    import datetime
    import json

    held = [n for n in RUN_FILES if (out / n).is_file()] + sorted(
        f"checkpoints/{p.name}" for p in (out / "checkpoints").glob("*.pt"))
    note = {"interrupted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": held, "note": "stopped before its end (Ctrl-C or SIGTERM): no report.json, no export"}
    (out / INTERRUPTED).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    stages = [n for n in held if n.startswith("checkpoints/")]
    log(f"interrupted: run folder {out} holds an unfinished run ({INTERRUPTED}; "
        f"{', '.join(stages) if stages else 'no stage checkpoint'}; no report, no export): `bci-stream evaluate` "
        "scores a stage's checkpoint; to train again there, pass --overwrite")


def card_scoring(label_map: dict[str, str | None], trial_classes: list[str],
                 times_s: list[float]) -> dict[str, Any]:
    """The card's ``scoring`` field, as ``bci-stream calibrate`` writes one: the events of the trial classes
    (others ignored), decided at the trial time nearest 2 s, so the service's live score counts the trials
    the card's test metrics count."""
    from bci_stream.train.evaluate.metrics import nearest_time

    t = nearest_time([t for t in times_s if 0 < t <= 60])
    return {"marker_map": {str(k): (v if v in trial_classes else None) for k, v in label_map.items()},
            "decision_time_s": 2.0 if t is None else float(t)}


def card_data_notes(info: dict[str, Any]) -> dict[str, Any]:
    """What the card's ``training`` says of the data, as ``calibrate``'s card does: ``notes`` (what loading noticed:
    channels left out as marked bad in a training or validation file, a test file's bad mark, bad channels that
    ``data.channels`` names, NaN/inf held and bad spans unlabelled per file), ``channels_left_out`` (name -> the files
    that mark it bad) and, when a file has bad spans, ``unlabelled`` (per file: held values, spans, samples and
    segments unlabelled by reason and class; :mod:`~bci_stream.train.bad_data`), from the dataset's ``info``."""
    return {"notes": list(info.get("notes", [])), "channels_left_out": dict(info.get("channels_left_out", {})),
            **({"unlabelled": list(info["unlabelled"])} if info.get("unlabelled") else {})}


def add_scoring(card: Any, out_dir: Path, scoring: dict[str, Any]) -> Any:
    """Rewrite the exported card in ``out_dir`` with ``scoring`` (validated as a card); returns the new card."""
    from bci_stream.core.card import CARD_FILE, ModelCard

    from bci_stream.train.export.folder_swap import write_text_atomic

    new = ModelCard.model_validate({**card.model_dump(mode="json"), "scoring": scoring})
    write_text_atomic(out_dir / CARD_FILE, new.model_dump_json(indent=2) + "\n")  # a service may read it meanwhile
    return new


def train_command(path: Path | str, out_dir: Path | str | None, export: bool | None, overwrite: bool) -> str:
    """The ``bci-stream train`` command line of a run, with every option that changes what it builds (the card's and
    report's ``command``): ``--out``, ``--export``/``--no-export`` (they override ``export.enabled``) and
    ``--overwrite``; ``--nproc-per-node`` is added by :func:`~bci_stream.train.run.run_file` under torchrun."""
    flags = [f"--out {out_dir}"] if out_dir is not None else []
    flags += [] if export is None else ["--export" if export else "--no-export"]
    flags += ["--overwrite"] if overwrite else []
    return " ".join([f"bci-stream train {path}", *flags])


def chance_check(test: dict[str, Any] | None, stage: str, times_s: list[float]) -> dict[str, Any] | None:
    """Whether ``stage``'s held-out test trial accuracy (instant, at the time of ``times_s`` nearest 2 s) beats
    chance: one-sided binomial p < 0.05 against the majority class's share, and above it. Reported,
    never a choice; ``warning`` says so in words when it does not (None when it does), and ``one_class`` when the
    net decided every test trial as one class at some time (what ``evaluate`` warns of). None without test trials.
    """
    from bci_stream.train.evaluate.metrics import nearest_time, time_key
    from bci_stream.train.evaluate.one_class import one_class_warning

    t = nearest_time(times_s)
    row = test["trial_accuracy"].get(time_key(t), {}) if test and t is not None else {}
    acc, p = row.get("instant"), row.get("instant_p_vs_chance")
    if acc is None or p is None:
        return None
    major, uniform = test.get("chance_trial_accuracy"), test.get("uniform_chance")
    above = p < 0.05 and (major is None or acc > major)
    k, n = row.get("instant_correct"), row.get("n_trials")
    warning = None if above else (
        f"the {stage} net is not shown to beat chance on the test files: its trial accuracy at {t:g} s (instant) is "
        f"{acc:.3f} ({k}/{n} trials), one-sided binomial p = {p:.2f} against the majority class's share "
        f"{major:.2f} (uniform chance {uniform:.2f}); record more or cleaner data before relying on it")
    return {"stage": stage, "decision_time_s": t, "instant": acc, "correct": k, "n_trials": n, "p_vs_chance": p,
            "uniform_chance": uniform, "chance_trial_accuracy": major, "above_chance": bool(above), "warning": warning,
            "one_class": one_class_warning(test["trial_accuracy"])}


#: The keys of :func:`chance_check` that are warnings in words (the card's ``metrics.warnings``, the report's notes).
CHANCE_WARNINGS = ("warning", "one_class")
