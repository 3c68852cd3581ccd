"""``bci-stream calibrate``: the command (click).

Only click is imported at module level (the CLI imports this module on start); the pipeline
(:func:`~.calibration.calibrate`: loading, fitting, cross-validation, export, report) loads on use.
Errors of the inputs (:class:`~.calibration_inputs.CalibrationError`) and of the service's rules
print as ``error: ...`` and exit with code 2.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from bci_stream.cli_checks import PathArg, name_list
from bci_stream.core.errors import BciStreamError
from bci_stream.io.reader_cli import bci2000_options, bci2000_reader


@click.command("calibrate")
@click.argument("files", nargs=-1, required=True, type=PathArg(path_type=Path, dir_okay=False))
@click.option("--labels", "labels", multiple=True, metavar="EV=CLASS,...",
              help="Event/marker names of the files → class names, e.g. T1=fists,T2=feet (pairs split at ',', each "
                   "at its one '='; EVENT= names an event that cues no trial, as evaluate reads it); repeat it to "
                   "add pairs.")
@click.option("--label", "label", multiple=True, metavar="EVENT=CLASS",
              help="One event → class, split at the LAST '=', so EVENT may hold ',' and '=' (e.g. --label "
                   "'cond=1=left' --label 'left,hand=left'); repeat it; may add to --labels.")
@click.option("--name", required=True, help="Model name (folder OUT/NAME): letters, digits, _ . -, at most 200 "
                                             "characters.")
@click.option("--out", "out", type=PathArg(path_type=Path), default=None,  # (a file: our one-line error)
              help="Model registry folder [default: the service's models_dir, env BCI_STREAM_MODELS_DIR; ./models "
                   "when that is the install's bundled models].")
@click.option("--channels", default=None, metavar="CH,...", callback=name_list,
              help="Use exactly these channels (names matched after normalising, e.g. C3 finds 'C3..').")
@click.option("--channel-names", default=None, metavar="NAMES|FILE",
              help="Rename the channels of every file before anything is picked, in the file's order: a comma list "
                   "(Fp1,Fp2,...), an EEGLAB .loc/.locs montage, or a file with one name per line. For files whose "
                   "channels are only numbered (a BCI2000 .dat without its .loc); the count must match every file.")
@click.option("--recurrent/--no-recurrent", default=True, show_default=True,
              help="Also cross-validate a residual GRU on the CSP+LDA decoder; ship it only where CV says it wins.")
@click.option("--combined/--no-combined", default=None,
              help="Also consider the combined CSP+LDA + tangent-space decoder (one graph, outputs combined) under "
                   "the same CV rule [default: on, chosen by the nested selection study].")
@click.option("--average/--no-average", default=None,
              help="Ship the average of every candidate of both families (one graph, the mean of their "
                   "probabilities) instead of picking one by the rules [default: on, chosen by the nested "
                   "selection study].")
@click.option("--bad-events", default=None, metavar="NAME,...", callback=name_list,
              help="Events whose span marks bad data (e.g. 1023, BCI Competition IV 2a's rejected trial; one without "
                   "a duration marks the trial it lies in, or the next cue's when that cue is its next event): the "
                   "trials overlapping them are left out of fitting and CV, as are those overlapping BAD* "
                   "annotations, a discontinuity (EEGLAB boundary, mne's concatenation, BrainVision New Segment) or "
                   "NaN/inf samples (and the settling after the last two); each said per file.")
@click.option("--clip-sd", default=None, metavar="X|off",
              help="Clip each component (CSP filter output, tangent-space dimension) at X times its calibration RMS "
                   "before the running power/covariance, so that one artifact disturbs the outputs briefly; 'off': no "
                   "clip [default: 8, chosen by the cross-subject clip study: tighter clips lost accuracy there].")
@click.option("--stream", default=None, metavar="NAME",
              help="XDF files: the signal stream (a name, else a type) [default: the only numeric stream with a rate "
                   "that bci-stream did not add itself].")
@click.option("--marker-stream", default=None, metavar="NAME",
              help="XDF files: the marker stream (a name, else a type; a trigger channel with a rate too) [default: "
                   "the only string stream that bci-stream did not add itself, else the only numeric stream without "
                   "a rate: int/float codes, mne-lsl annotations].")
@click.option("--event-fields", default=None, metavar="FIELD[,FIELD...]", callback=name_list,
              help="EEGLAB .set files: name each event by these fields of EEG.event, joined with '/' (e.g. "
                   "type,position gives square/1, square/2) [default: type].")
@bci2000_options
@click.option("--overwrite", is_flag=True,
              help="Replace the model in the folder OUT/NAME, as a new version (the replaced one's last number + 1, "
                   "e.g. 1.0.0 -> 1.0.1). Without it, a folder that already holds a model or other files is refused "
                   "before anything is loaded.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def calibrate_cmd(files: tuple[Path, ...], labels: tuple[str, ...], label: tuple[str, ...], name: str, out: Path | None,
                  channels: str | None, channel_names: str | None, recurrent: bool, combined: bool | None,
                  average: bool | None, bad_events: str | None, clip_sd: str | None, stream: str | None,
                  marker_stream: str | None, event_fields: str | None, state: str | None, type_state: str | None,
                  include_zero: bool | None, overwrite: bool, no_progress: bool) -> None:
    """Calibrate a streaming CSP+LDA or Riemannian decoder on FILE... (one file per run) and export it."""
    from bci_stream.core.out_folder import out_folder_problem
    from bci_stream.train.classical.calibration import AVERAGE_CANDIDATES, CONSIDER_COMBINED, DEFAULT_CLIP, calibrate
    from bci_stream.train.classical.calibration_inputs import (parse_channel_names, parse_channels, parse_labels,
                                                               reader_options)
    from bci_stream.train.classical.model_version import registry_problem

    try:
        if out is None:
            from bci_stream.core.model_dirs import default_calibrate_out
            from bci_stream.core.settings_errors import load_settings
            out = default_calibrate_out(load_settings().models_dir)  # a bad setting: one line naming it
        if (why := out_folder_problem(out, "--out") or registry_problem(out)) is not None:  # before the work
            raise ValueError(why)
        calibrate(list(files), parse_labels(labels, label), name, out, channels=parse_channels(channels),
                  progress=not no_progress, echo=click.echo, recurrent=recurrent,
                  combined=CONSIDER_COMBINED if combined is None else combined,
                  average=AVERAGE_CANDIDATES if average is None else average,
                  reader_options={**reader_options(stream, marker_stream, parse_channels(event_fields)),
                                  **bci2000_reader(state, type_state, include_zero)},
                  channel_names=parse_channel_names(channel_names), overwrite=overwrite,
                  bad_events=parse_channels(bad_events) or (),
                  clip_sd=DEFAULT_CLIP if clip_sd is None else _clip_sd(clip_sd))
    except (BciStreamError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _clip_sd(text: str) -> float | None:
    """``--clip-sd``: a number > 0, or ``off`` (no clip)."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(f"--clip-sd must be a number > 0 (times each component's calibration RMS) or 'off', "
                         f"got {text!r}")
    return value


__all__ = ["calibrate_cmd"]
