"""Checkpoints: a trained net plus everything needed to run it on new data (channels, rate, preprocessing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bci_stream.core.errors import ModelError
from bci_stream.train.nets.birnn import BiRNN
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.dsp.preprocess import PreprocessingConfig

FORMAT = 1
KINDS = {"CausalRNN": CausalRNN, "BiRNN": BiRNN}


def save_checkpoint(path: Path, net: CausalRNN | BiRNN, meta: dict[str, Any]) -> None:
    """``meta`` must hold ``ch_names``, ``sfreq``, ``label_names`` and ``preprocessing`` (a dict)."""
    missing = [k for k in ("ch_names", "sfreq", "label_names", "preprocessing") if k not in meta]
    if missing:
        raise ValueError(f"checkpoint meta must have {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "kind": type(net).__name__, "model_config": net.config(),
                "state_dict": net.state_dict(), "meta": meta}, path)


def first_line(exc: BaseException) -> str:
    """``exc``'s first sentence, its type when it has none: torch's refusal of a file that is no checkpoint (a text
    file) goes on with advice to load it unsafely (``weights_only=False``) and to file an issue (audit s61train F4)."""
    text = str(exc).strip()
    if not any(c.isalpha() for c in text):  # an unpickler's bare number (a text file: "174812789", audit s66cli F13)
        return f"{type(exc).__name__}{' ' + text if text else ''}: neither a zip archive nor a pickle that torch wrote"
    return text.splitlines()[0].split(". ")[0].rstrip(".")


#: What a checkpoint that cannot be read is said to be, by default (``evaluate MODEL``'s): what to give instead.
MODEL_HINT = "a checkpoint.pt that `bci-stream train` wrote is one; a model folder or registry name is another MODEL"


def load_checkpoint(path: Path | str, hint: str = MODEL_HINT) -> tuple[CausalRNN | BiRNN, dict[str, Any]]:
    """The net (eval mode) and its meta; the preprocessing is re-validated. ``hint``: said after a file that is no
    readable checkpoint (cut short: torch's "Invalid argument" says so)."""
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise ModelError(f"checkpoint {path} is not a readable torch checkpoint (cut short or corrupt?): "
                         f"{first_line(exc)} ({hint})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("kind") not in KINDS:
        raise ModelError(f"checkpoint {path} is not a bci-stream checkpoint (format {FORMAT}, kind in {sorted(KINDS)})")
    cfg = dict(raw["model_config"])
    net = KINDS[raw["kind"]](**{k: v for k, v in cfg.items() if k not in ("n_chans", "n_outputs")},
                             n_chans=cfg["n_chans"], n_outputs=cfg["n_outputs"])
    net.load_state_dict(raw["state_dict"])
    meta = dict(raw["meta"])
    meta["preprocessing"] = PreprocessingConfig.model_validate(meta["preprocessing"])
    return net.eval(), meta
