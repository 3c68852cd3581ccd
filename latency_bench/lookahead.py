"""The lookahead cost table: added latency (K / sfreq) against accuracy, from the trainer's report.

The trainer (``bci-stream train``, :mod:`bci_stream.train.run`) trains a causal net and bidirectional
nets that see K future samples, and writes ``report.json`` whose ``models`` hold, per stage,
``lookahead`` (K, None = the whole recording), ``added_latency_ms`` and test metrics. This module reads
it. Where it comes from, first found:

1. the path given (``--lookahead-report``);
2. the newest ``runs/eegmmidb-*/report.json`` of the repository (the trainer's default output);
3. the model card of the real-EEG model (``metrics.lookahead_trial_accuracy_2s``: accuracy at 2 s only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latency_bench.procs import REPO_ROOT


def find_report(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    found = sorted((REPO_ROOT / "runs").glob("eegmmidb-*/report.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _row(name: str, m: dict[str, Any]) -> dict[str, Any]:
    split = "test" if m.get("test") else "validation"
    block = m.get(split) or {}
    trial = {t: {"instant": v.get("instant"), "mean": v.get("mean")}
             for t, v in (block.get("trial_accuracy") or {}).items()}
    return {"stage": name, "kind": m.get("kind"), "causal": m.get("causal"), "lookahead": m.get("lookahead"),
            "added_latency_ms": m.get("added_latency_ms"), "split": split,
            "sample_accuracy": block.get("sample_accuracy"), "trial_accuracy": trial,
            "n_trials": block.get("n_trials")}


def from_report(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text(encoding="utf-8"))
    models = report.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError(f"{path} has no 'models' section (is it a bci-stream training report?)")
    rows = [_row(n, m) for n, m in models.items()]
    rows.sort(key=lambda r: (r["added_latency_ms"] is None, r["added_latency_ms"] or 0.0))
    data = report.get("data") or {}
    first = next(iter(models.values()))
    chance = (first.get("test") or first.get("validation") or {}).get("chance_trial_accuracy")
    return {"available": True, "source": str(path), "run": report.get("run"), "sfreq": data.get("sfreq"),
            "chance_trial_accuracy": chance, "rows": rows,
            "complete": any(r["lookahead"] not in (0, None) for r in rows)}


def from_card(card_path: Path) -> dict[str, Any] | None:
    card = json.loads(card_path.read_text(encoding="utf-8"))
    table = (card.get("metrics") or {}).get("lookahead_trial_accuracy_2s")
    if not table:
        return None
    sfreq = card.get("sfreq")

    def k_of(added_ms: float | None) -> int | None:  # K = added latency x rate; None: the whole recording
        return None if added_ms is None or not sfreq else round(added_ms * sfreq / 1000.0)

    rows = [{"stage": n, "causal": n == "causal", "lookahead": k_of(v.get("added_latency_ms")),
             "added_latency_ms": v.get("added_latency_ms"), "split": "test", "sample_accuracy": None,
             "trial_accuracy": {"2s": {"instant": v.get("instant"), "mean": v.get("mean")}}}
            for n, v in table.items()]
    rows.sort(key=lambda r: (r["added_latency_ms"] is None, r["added_latency_ms"] or 0.0))
    return {"available": True, "source": str(card_path), "run": card.get("name"), "sfreq": sfreq,
            "rows": rows, "complete": any(r["lookahead"] not in (0, None) for r in rows)}


def lookahead_section(explicit: Path | None = None, card_path: Path | None = None) -> dict[str, Any]:
    """The table, or ``available: false`` with the reason (never raises for a missing report)."""
    path = find_report(explicit)
    if path is not None:
        if not path.exists():
            return {"available": False, "reason": f"lookahead report {path} does not exist"}
        try:
            return from_report(path)
        except (ValueError, json.JSONDecodeError) as exc:
            return {"available": False, "reason": str(exc)}
    if card_path is not None and card_path.exists():
        section = from_card(card_path)
        if section is not None:
            return section
    return {"available": False, "reason": (
        "no trainer report found: give --lookahead-report PATH (report.json of `bci-stream train`), or train "
        "configs/eegmmidb-s001.toml (writes runs/eegmmidb-s001/report.json)")}
