"""The command-line flags of the BCI2000 reader options (``[data.reader]`` ``state``, ``type_state``,
``include_zero``), one definition for every command that reads files: ``calibrate``, ``evaluate`` and ``replay``.
Before, only ``replay`` took them, so a BCI2000 task coding its cues in another state than ``StimulusCode``
(``TargetCode``), or a P300 run read as target/non-target, could be calibrated only through a train config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def bci2000_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--state``, ``--type-state`` and ``--include-zero/--no-include-zero`` to a click command (its parameters
    ``state``, ``type_state``, ``include_zero``; :func:`bci2000_reader` makes the reader options of them)."""
    for option in reversed((
        click.option("--state", default=None, metavar="STATE",
                     help="BCI2000 .dat files: the state whose runs of constant value are the events, as "
                          "[data.reader] state in a train config [default: StimulusCode]."),
        click.option("--type-state", default=None, metavar="STATE",
                     help="BCI2000 .dat files: name each non-zero run of --state by this state's value at its onset "
                          "(e.g. StimulusType: 1 target, 0 non-target, for a P300 model), as [data.reader] "
                          "type_state."),
        click.option("--include-zero/--no-include-zero", default=None,
                     help="BCI2000 .dat files: the runs of value 0 of --state are events too, as [data.reader] "
                          "include_zero [default: yes, but no with --type-state]."),
    )):
        command = option(command)
    return command


def bci2000_reader(state: str | None, type_state: str | None, include_zero: bool | None) -> dict[str, Any]:
    """The reader options of the BCI2000 flags given (None: not given)."""
    return {k: v for k, v in (("state", state), ("type_state", type_state), ("include_zero", include_zero))
            if v is not None}


__all__ = ["bci2000_options", "bci2000_reader"]
