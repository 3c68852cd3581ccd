"""``bci-stream replay``: a recording streamed over LSL at real-time pace, its events on ``NAME-markers``.

A command of :data:`bci_stream.cli.LAZY_COMMANDS` (imported when named). The file is read as ``calibrate`` and
``evaluate`` read it (the same reader options: ``--stream``, ``--marker-stream``, ``--event-fields``,
``--channel-names``), so a model calibrated on it finds its channels and cue names in the replay; and as ``train``
reads it with its ``[data.reader]`` options (BCI2000 ``--state``, ``--type-state``, ``--include-zero``), so the
markers are the cues a model trained with them learnt (``evaluate --live`` and the service's scoring note name the
flags: :func:`bci_stream.io.reader_flags.replay_args`).
"""

from __future__ import annotations

from pathlib import Path

import click

from bci_stream.cli_checks import CHUNK_SIZE, SECONDS, PathArg, finite, name_list, not_nan, played_name
from bci_stream.io.reader_cli import bci2000_options, bci2000_reader


@click.command("replay")
@click.argument("path", type=PathArg(dir_okay=False, path_type=Path))
@click.option("--name", required=True, callback=played_name, help="LSL stream name (events go to NAME-markers).")
@click.option("--chunk-size", type=CHUNK_SIZE, default=None, help="Samples per push (default sfreq/32).")
@click.option("--loop", is_flag=True, help="Start again at the end, until Ctrl-C.")
@click.option("--speed", type=click.FloatRange(min=0.001, max=1000), default=1.0, show_default=True, callback=finite,
              help="Pace relative to real time (for dry runs and tests).")
@click.option("--source-id", default=None, callback=played_name, help="LSL source_id (default replay:FILE:NAME).")
@click.option("--wait-for-consumer", type=SECONDS, default=None, metavar="SECONDS", callback=not_nan,
              help="Start only once a consumer (e.g. a decoder) is connected, so it gets the whole file.")
@click.option("--linger", type=click.FloatRange(min=0), default=None, metavar="SECONDS", callback=not_nan,
              help="After the last sample, wait at most this long for consumers to disconnect before the "
                   "stream goes [default 2].")
@click.option("--channel-names", default=None, metavar="NAMES|FILE",
              help="Stream the channels under these names, in file order (a comma list, an EEGLAB .loc/.locs "
                   "montage, or a file with one name per line): as calibrate --channel-names named them.")
@click.option("--stream", default=None, metavar="NAME",
              help="XDF files: the signal stream to replay (a name, else a type) [default: the only numeric stream "
                   "with a rate that bci-stream did not add itself], as calibrate --stream picks it.")
@click.option("--marker-stream", default=None, metavar="NAME",
              help="XDF files: the marker stream replayed on NAME-markers (a name, else a type) [default: the only "
                   "string stream that bci-stream did not add itself, else the only numeric stream without a rate], "
                   "as calibrate --marker-stream picks it.")
@click.option("--event-fields", default=None, metavar="FIELD[,FIELD...]", callback=name_list,
              help="EEGLAB .set files: name each event by these fields of EEG.event, joined with '/' (e.g. "
                   "type,position gives square/1), as calibrate --event-fields names them [default: type].")
@bci2000_options
@click.option("--label-map", "--labels", "label_map", multiple=True, metavar="EVENT=CLASS[,...]",
              help="The decoder's label map, as evaluate --labels takes it: a numeric marker stream's 0 is replayed "
                   "as marker '0' only when it names 0 (a class coded 0), else it is 'trigger off', no marker.")
@click.option("--label", "label_pairs", multiple=True, metavar="EVENT=CLASS", help="One pair, as evaluate --label.")
def replay_cmd(path: Path, name: str, chunk_size: int | None, loop: bool, speed: float, source_id: str | None,
               wait_for_consumer: float | None, linger: float | None, channel_names: str | None, stream: str | None,
               marker_stream: str | None, event_fields: str | None, state: str | None, type_state: str | None,
               include_zero: bool | None, label_map: tuple[str, ...], label_pairs: tuple[str, ...]) -> None:
    """Stream a recording (EDF/BDF/GDF/FIF/EEGLAB/BrainVision/BCI2000/XDF/NPZ) over LSL at real-time pace (voltages in
    µV; each channel's type and unit in the stream's desc).

    Ctrl-C or SIGTERM stops it cleanly (exit code 0)."""
    import signal

    from bci_stream.core.errors import BciStreamError
    from bci_stream.io import load_recording
    from bci_stream.io.channel_names import read_channel_names
    from bci_stream.io.errors import ChannelError, DataError
    from bci_stream.core.channels import shortlist
    from bci_stream.io.load import check_names, missing_path_message, named_options, options_by_file, renamed_bads
    from bci_stream.io.reader_flags import in_flags
    from bci_stream.sim.quiet_end import ignore_stop_signals
    from bci_stream.sim.replay import LINGER_S, absent_cues, label_cues, run_replay

    def ready(rec) -> None:
        click.echo(f"replaying {path.name} as '{name}': {rec.n_chans} ch, {rec.sfreq:g} Hz, {rec.duration:.1f} s, "
                   f"{len(rec.events)} events on '{name}-markers'" + (" (looping)" if loop else "")
                   + ("" if speed == 1 else f" at {speed:g}x"))
        if rec.bad_channels:  # the stream cannot carry the mark: a model that needs such a channel reads it
            click.echo(f"note: {path.name} marks {len(rec.bad_channels)} channel(s) bad: {shortlist(rec.bad_channels)}"
                       "; streamed as any other channel")

    if not path.is_file():  # as calibrate and evaluate say it (the data folder named where it helps)
        raise click.BadParameter(missing_path_message(path), param_hint="'PATH'")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it like Ctrl-C: no traceback
    try:
        # a wrong --channel-names (no such file, or a count other than the file's) is a usage error (exit 2)
        # naming the option, as in calibrate; a file that cannot be read is not (exit 1)
        # so is --stream/--marker-stream on a file whose format takes none, or one that names no stream of the file
        try:
            names, cues = read_channel_names(channel_names), label_cues(label_map, label_pairs)
            fields = [f.strip() for f in event_fields.split(",") if f.strip()] if event_fields else None
            given = (("stream", stream), ("marker_stream", marker_stream), ("event_fields", fields))
            options = options_by_file([path], {**{k: v for k, v in given if v is not None and v != []},
                                               **bci2000_reader(state, type_state, include_zero)})[0]
        except (DataError, ValueError) as exc:
            raise click.UsageError(str(exc)) from None
        try:
            rec = load_recording(path, cues=cues, **named_options(path, options, names is not None))
        except DataError as exc:  # e.g. an XDF of several amplifiers: name the option that picks one
            said = _flagged(str(exc), options)
            if (worded := in_flags(said, "replay")) != said or options:
                raise click.UsageError(f"cannot load {path}: {worded}") from None
            raise
        if (said := absent_cues(cues, rec, path.name)) is not None:
            click.echo(said, err=True)
        if names is not None:
            try:
                new = check_names(names, rec.n_chans, rec.source, "--channel-names")
                rec.bad_channels, rec.ch_names = renamed_bads(rec.bad_channels, rec.ch_names, new), new
            except ChannelError as exc:
                raise click.UsageError(str(exc)) from None
        n = run_replay(path, name, chunk_size=chunk_size, loop=loop, speed=speed, source_id=source_id,
                       on_ready=ready, wait_for_consumer=wait_for_consumer,
                       linger=LINGER_S if linger is None else linger, recording=rec)
    except (BciStreamError, ValueError) as exc:  # the file, its channels or the options refused: exit 2, as calibrate
        raise Refused(str(exc)) from None
    except TimeoutError as exc:  # (the option, not the Python name: audit s66cli F13)
        raise click.ClickException(f"{exc} (--wait-for-consumer)") from None
    except KeyboardInterrupt:  # before the stream was up (while the file was read)
        ignore_stop_signals()
        click.echo("interrupted")
        return
    ignore_stop_signals()  # the replay has ended: a stop signal now ends nothing more (before: exit by it, s67rec F1)
    click.echo(f"pushed {n} samples")


class Refused(click.ClickException):
    """A recording or option replay cannot take: one ``Error:`` line, exit code 2 (as calibrate and evaluate)."""

    exit_code = 2


def _flagged(message: str, options: dict) -> str:
    """``message`` with the reader option it starts with named by its flag (``type_state must be a state of x.dat``
    -> ``--type-state must be a state of x.dat``) when that option was given."""
    from bci_stream.io.reader_flags import flag

    return next((flag(k) + message[len(k):] for k in options if message.startswith(f"{k} must ")), message)
