"""Which evaluation files the model was trained on: ``evaluate`` warns, so in-sample figures are not read as test
figures.

What a model says about its training data: a trainer card holds ``training.files`` = ``{"train": [...],
"validation": [...], "test": [...]}`` (file names) and ``training.config.data.root``; a calibration card holds
``training.files`` = ``[...]`` (every file it was fitted on, names). A checkpoint holds neither, but its run folder
(``<run>/checkpoint.pt``, ``<run>/checkpoints/<stage>.pt``) holds ``config.json`` with ``data.root``, the splits and
``base_dir``, and (runs since session 61) ``training_files.json``: the files' digests and content prints, so a
renamed or re-saved copy is caught for a checkpoint as for a card (audit s61train F3: before, only the exact path).
The validation split counts as training data: it chose the epoch (early stopping).

Cards also hold ``training.files_sha256`` (the content digest of each file, in the order of ``files``; cards made
before it lack it). A file is flagged when its resolved path is a training file's; else, where the card gives the
training file's digest, when the contents are the same (a renamed copy included; a file of the same name and other
content is another recording); else when the training file's own path is not known or no longer exists and only
the names can be compared (the warning then says "same name"); a training file that exists under another path with
the same name is compared by size as well (a copy has the same size).
Cards also hold ``training.files_content`` (a content print of each file: :mod:`bci_stream.train.content_print`): a
file whose samples are a training file's is flagged whatever its bytes (that file re-saved in another format, its
channels reordered; before, only a byte-identical copy was caught), and, where the print holds probes (cards made
since), a file that holds a stretch of a training file's samples: a cropped copy, or an overlapping recording.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bci_stream.io.recording import Recording

#: The splits whose files the model learnt from (validation chose the epoch).
TRAINING_SPLITS = ("train", "validation")


class TrainingFile(NamedTuple):
    """One file the model was trained on: its name, where the model says it was, and the split."""

    name: str
    path: Path | None
    where: str  # e.g. "card training.files.train"
    sha256: str | None = None  # the file's content digest, where the card gives it
    content: Any = None  # its content print (bci_stream.train.content_print), where the card gives it


def _groups(files: Any) -> dict[str, list]:
    """``files`` (a list, or a dict split -> list) as split -> list (``""``: a list without splits)."""
    if isinstance(files, Mapping):
        return {s: files.get(s) if isinstance(files.get(s), list) else [] for s in TRAINING_SPLITS}
    return {"": files} if isinstance(files, list) else {}


def _entries(files: Any, root: Path | None, what: str, digests: Any = None, prints: Any = None
             ) -> list[TrainingFile]:
    """``files`` (a list of names, or a dict split -> names) as :class:`TrainingFile` rows; ``digests`` and
    ``prints`` the same shape of sha256 digests and content prints (ignored for a split where a length differs)."""
    sums, contents = _groups(digests), _groups(prints)
    out = []
    for split, names in _groups(files).items():
        split_sums, split_prints = sums.get(split) or [], contents.get(split) or []
        for k, f in enumerate(names):
            if not isinstance(f, str) or not f:
                continue
            p = Path(f).expanduser()
            path = p if p.is_absolute() else (root / p if root is not None else None)
            digest = split_sums[k] if len(split_sums) == len(names) and isinstance(split_sums[k], str) else None
            content = split_prints[k] if len(split_prints) == len(names) else None
            out.append(TrainingFile(p.name, path, what + (f".{split}" if split else ""), digest, content))
    return out


def card_training_files(training: Mapping[str, Any]) -> list[TrainingFile]:
    """The training files a model card's ``training`` block names (see the module docstring)."""
    data = (training.get("config") or {}).get("data") if isinstance(training.get("config"), Mapping) else None
    root = data.get("root") if isinstance(data, Mapping) else None
    if isinstance(root, str):  # a card's portable root: ${BCI_STREAM_DATA}/... or ~/...
        from bci_stream.io.data_root import expand_data_root

        root = expand_data_root(root)
    root_path = Path(root).expanduser() if isinstance(root, str) and Path(root).expanduser().is_absolute() else None
    return _entries(training.get("files"), root_path, "card training.files", training.get("files_sha256"),
                    training.get("files_content"))


def checkpoint_training_files(checkpoint: Path, run_name: str | None) -> list[TrainingFile]:
    """The training files of the run a checkpoint belongs to, from that run's ``config.json``; [] when not found."""
    checkpoint = Path(checkpoint)
    folders = [checkpoint.parent] + ([checkpoint.parent.parent] if checkpoint.parent.name == "checkpoints" else [])
    for folder in folders:
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(config, Mapping) or (run_name is not None and config.get("name") != run_name):
            continue
        data = config.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("root"), str):
            continue
        root = Path(data["root"]).expanduser()
        if not root.is_absolute():
            root = Path(str(config.get("base_dir") or folder)) / root
        try:  # their digests and content prints (runs before session 61 have none: names and paths only)
            known = json.loads((folder / "training_files.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            known = {}
        known = known if isinstance(known, Mapping) else {}
        return _entries({s: data.get(s) for s in TRAINING_SPLITS}, root, f"run config {folder / 'config.json'} data",
                        known.get("files_sha256"), known.get("files_content"))
    return []


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def in_sample_warnings(data: Sequence[str | Path], training: Sequence[TrainingFile],
                       recordings: Sequence[Recording] | None = None) -> list[str]:
    """One sentence per file of ``data`` that is among ``training`` (see the module docstring); ``recordings``: the
    files of ``data`` as loaded, to compare with the training files' content prints."""
    from bci_stream.core.card import sha256_file
    from bci_stream.train.content_print import found_in, same_content

    out = []
    for k, f in enumerate(data):
        p = Path(f)
        rec = recordings[k] if recordings is not None else None
        digest: str | None = None
        for t in training:
            if t.path is not None and _same_file(p, t.path):
                out.append(f"{p.name} is a training file of the model ({t.where}: {t.path}): its figures are "
                           f"in-sample, not a test")
                break
            if t.sha256 is not None and p.is_file():
                digest = digest or sha256_file(p)
                if digest == t.sha256:
                    out.append(f"{p.name} has the content of a training file of the model ({t.where}: {t.name}, "
                               f"sha256 {digest[:12]}): its figures are in-sample, not a test")
                    break
            if rec is not None and t.content is not None and same_content(t.content, rec):
                out.append(f"{p.name} holds the samples of a training file of the model ({t.where}: {t.name}; a "
                           f"copy in another format or channel order): its figures are in-sample, not a test")
                break
            if rec is not None and t.content is not None and (hit := found_in(t.content, rec)) is not None:
                sf = float(rec.sfreq)
                out.append(f"{p.name} holds samples of a training file of the model ({t.where}: {t.name}; its "
                           f"{hit.n / sf:g} s from {hit.start_printed / sf:g} s lie at {hit.start / sf:g} s of this "
                           f"file: a cropped copy or an overlapping recording): its figures are in-sample, not a test")
                break
            if t.sha256 is not None and p.is_file():
                continue  # other content: another recording, whatever its name
            if t.name != p.name:
                continue
            if t.path is not None and t.path.is_file():
                if t.path.stat().st_size == p.stat().st_size:
                    out.append(f"{p.name} has the name and size of a training file of the model ({t.where}: "
                               f"{t.path}): if it is a copy, its figures are in-sample, not a test")
                    break
                continue  # another recording of that name
            out.append(f"{p.name} has the name of a training file of the model ({t.where}: {t.name}): if it is the "
                       f"same recording, its figures are in-sample, not a test")
            break
    return out


def repeated_files(recs: Sequence[Recording], flag: str) -> str | None:
    """The refusal of a recording given twice among ``recs`` (the files of ``flag``: ``--data``,
    ``--reference-train``), the same file or a copy (another format, a cropped piece), or None. Before, its trials
    were counted twice: 24/30 for 12/15, a narrower interval and a smaller p (audit s68cal F1)."""
    from bci_stream.train.classical.distinct_runs import repeated_run, repeated_run_message

    if (pair := repeated_run(recs)) is None:
        return None
    what = "scored" if flag == "--data" else "fitted on"
    return repeated_run_message(pair, f"every {flag} file must be a different recording (its trials would be {what} "
                                      "twice, and the figures read as if from twice the trials); give each once")
