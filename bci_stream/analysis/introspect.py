"""Introspection of a deployed causal RNN: the effective memory time constants it implements.

Two views, both computed from the deployed artefact (the step graph ``model.onnx`` and its card, format
2: raw input ``x``, the causal preprocessing, then the recurrent network; see
:mod:`bci_stream.core.contract`), run through :class:`~bci_stream.engine.step_model.StepModel`, not
from torch:

* :func:`~bci_stream.analysis.jacobian.jacobian_time_constants` (any cell): the eigenvalues of the
  Jacobian of the silent-input state map at its fixed point, each one a memory mode with a time
  constant ``τ = -Δt / ln|λ|`` and an oscillation period (:mod:`bci_stream.analysis.jacobian`).
* :func:`~bci_stream.analysis.lstm_gates.lstm_forget_time_constants` (LSTM only): per-unit time
  constants ``τ = -Δt / ln f`` of the forget gates along data, from the graph's ``LSTM`` nodes re-run
  in numpy (:mod:`bci_stream.analysis.lstm_gates`, :mod:`bci_stream.analysis.onnx_lstm`).

:func:`inspect_model` combines both into a JSON-serialisable report (plus, on request, ``report.json``
and ``time_constants.png``), :func:`format_table` renders it as text
(:mod:`bci_stream.analysis.report`), and :func:`run_inspect` is the ``bci-stream inspect MODEL`` entry
point. Only recurrent models (``architecture.family == "recurrent"``) can be inspected.

JSON conventions of the report: infinite time constants (``|λ| >= 1``, or a forget gate that rounds to
1) are stored as the string ``"inf"``; a period that does not exist (a positive real eigenvalue: no
oscillation) is ``None``; complex numbers are stored as ``re`` / ``im`` pairs.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.analysis.jacobian import jacobian_time_constants
from bci_stream.analysis.lstm_gates import lstm_forget_time_constants
from bci_stream.analysis.recurrent import check_entry, check_recurrent
from bci_stream.analysis.report import format_table, plot_time_constants
from bci_stream.core.errors import BciStreamError, ModelError, ModelNotFoundError
from bci_stream.core.registry import ModelEntry, open_model_ref
from bci_stream.core.units import volts_per_unit

__all__ = [
    "jacobian_time_constants",
    "lstm_forget_time_constants",
    "inspect_model",
    "format_table",
    "run_inspect",
]

#: Seconds of simulated EEG used for an LSTM when no data is given.
DEFAULT_DATA_S = 20.0


def _default_data(entry: ModelEntry) -> np.ndarray:
    """20 s of raw simulated EEG (microvolts) on the card's channels; the step graph preprocesses it."""
    from bci_stream.sim.eeg import SyntheticEEG

    card = entry.card
    if card.sfreq < 60:
        raise ValueError(
            f"model '{card.ref}' runs at {card.sfreq:g} Hz and the built-in simulator needs sfreq >= 60 Hz: no data to "
            "run its forget gates on (inspect_model(entry, data) takes a recording's samples)"
        )
    sim = SyntheticEEG(n_chans=card.n_chans, sfreq=card.sfreq, ch_names=card.ch_names, seed=0)
    return sim.generate(int(DEFAULT_DATA_S * card.sfreq))[0]


def inspect_model(entry: ModelEntry, data: np.ndarray | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Both analyses in one JSON-serialisable report; optionally ``report.json`` and ``time_constants.png``.

    Parameters
    ----------
    entry
        The model (from :meth:`ModelRegistry.get`).
    data
        Raw input ``[T, C]`` (card unit and channel order; the step graph preprocesses it) for the LSTM
        forget-gate analysis. Ignored for a GRU. For an LSTM, None means 20 s of the built-in
        simulator (seed 0) on the card's channels.
    out_dir
        Folder to write ``report.json`` and ``time_constants.png`` into (created), or None.

    Returns
    -------
    dict
        ``model`` (name, version, sha256, cell, layers, hidden size, sfreq), ``jacobian`` (see
        :func:`jacobian_time_constants`), ``forget_gates`` (see :func:`lstm_forget_time_constants`;
        None for a GRU), ``data`` (where the LSTM input came from) and ``notes``. Infinite values are
        the string ``"inf"``, so ``json.dumps`` writes strict JSON.
    """
    check_entry(entry)
    check_recurrent(entry)
    card = entry.card
    notes = [
        "Jacobian modes linearise the dynamics under a silent input (raw x = 0, band-pass filter state at "
        "rest) around the fixed point reached from the reset state; the network then sees the preprocessed "
        "value of a zero sample, the standardisation offset -mean/std (jacobian.input.preprocessed).",
        "tau_ms = -dt/ln|lambda|; 'inf' marks |lambda| >= 1 (no decay); period_ms is null for a positive "
        "real eigenvalue (no oscillation); complex eigenvalues appear as conjugate pairs.",
    ]
    report: dict[str, Any] = {
        "model": {
            "ref": card.ref, "name": card.name, "version": card.version, "sha256": card.sha256,
            "cell": card.architecture.cell, "n_layers": card.architecture.n_layers,
            "hidden_size": card.architecture.hidden_size, "sfreq": card.sfreq,
        },
        "jacobian": jacobian_time_constants(entry),
        "forget_gates": None,
        "data": None,
        "notes": notes,
    }
    if not report["jacobian"]["fixed_point"]["converged"]:
        notes.append("The silent-input fixed-point search did not converge; the Jacobian is taken at the last state.")
    if card.architecture.cell == "lstm":
        try:
            if data is None:
                try:
                    data = _default_data(entry)
                except ValueError as exc:  # a rate the simulator cannot make: no data, so no forget gates
                    raise ModelError(str(exc)) from None
                report["data"] = f"simulated: SyntheticEEG seed 0, {DEFAULT_DATA_S:g} s, raw through the step graph"
                if volts_per_unit(card.unit) != volts_per_unit("microvolts"):
                    notes.append(f"The simulator produces microvolts but the model's unit is {card.unit!r}; "
                                 f"forget-gate statistics on simulated data may not be representative.")
            else:
                report["data"] = "given by the caller (raw, through the step graph)"
            report["forget_gates"] = lstm_forget_time_constants(entry, data)
            notes.append("Forget-gate tau_ms = -dt/ln f per unit, median over the data; data-dependent.")
        except ModelError as exc:  # the Jacobian needs neither data nor the numpy LSTM: it is kept (audit s70model F2)
            report["forget_gates_skipped"] = str(exc)
            notes.append(f"Forget-gate time constants not computed: {exc}")
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        if importlib.util.find_spec("matplotlib") is not None:  # the plot only: a runtime install has the rest
            plot_time_constants(report, out_dir / "time_constants.png")
    return report


def run_inspect(ref: str, models_dir: Path, out_dir: Path | None, echo: Callable[[str], Any] = print,
                registry_given: bool = True) -> int:
    """``bci-stream inspect MODEL``: print the table, write the files; return the exit code.

    Parameters
    ----------
    ref
        ``name`` or ``name@version`` in the registry, or a model folder (or its ``model.json``).
    models_dir
        The registry folder.
    out_dir
        Where to write ``report.json`` and ``time_constants.png``, or None for the table only.
    echo
        Prints one string (``click.echo`` in the CLI).
    registry_given
        ``models_dir`` was given (``--models-dir``); when not, a model not found there also says how to name another.

    Returns
    -------
    int
        0 on success, 2 when the model cannot be loaded or analysed (the message is echoed), as other commands refuse
        their input (before: 1).
    """
    try:
        entry = open_model_ref(ref, models_dir)
        report = inspect_model(entry, out_dir=out_dir)
    except (BciStreamError, ValueError) as exc:
        hint = ("; a model calibrated with calibrate --out DIR is in DIR: give --models-dir DIR, or the model's folder "
                "DIR/NAME as MODEL") if isinstance(exc, ModelNotFoundError) and not registry_given else ""
        echo(f"error: {exc}{hint}")
        return 2
    echo(format_table(report).rstrip("\n"))
    if out_dir is not None and (Path(out_dir) / "time_constants.png").exists():
        echo(f"wrote {Path(out_dir) / 'report.json'} and {Path(out_dir) / 'time_constants.png'}")
    elif out_dir is not None:
        echo(f"wrote {Path(out_dir) / 'report.json'}; not time_constants.png: the plot needs matplotlib, which the "
             "'train' or 'bench' extra installs: pip install 'bci-stream[train]'")
    return 0
