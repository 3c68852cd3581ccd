"""``bci-stream record``: an LSL EEG stream and its markers into an XDF file, no model needed (registered in
:mod:`bci_stream.cli`; the recording itself is :mod:`bci_stream.service.record_only`).

Only click is imported here; pylsl and the recorder when the command runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bci_stream.cli_checks import SECONDS, PathArg, finite, lsl_name, not_nan, say

if TYPE_CHECKING:
    from bci_stream.core.spec import StreamSelector


def selector(**fields: str | None) -> StreamSelector | None:
    """A decoder's stream selector (:class:`~bci_stream.core.spec.StreamSelector`: every field given must match) from
    ``fields`` (name, type, source_id, hostname; None: not given), None when none is given. Each value was checked by
    its option (:func:`~bci_stream.cli_checks.lsl_name`: the error names that option)."""
    from bci_stream.core.spec import StreamSelector

    given = {k: v for k, v in fields.items() if v is not None}
    return StreamSelector(**given) if given else None


@click.command("record")
@click.option("--stream", "name", default=None, callback=lsl_name, metavar="NAME", help="The EEG stream's LSL name.")
@click.option("--type", "stype", default=None, callback=lsl_name, metavar="TYPE",
              help="The EEG stream's LSL type (e.g. EEG).")
@click.option("--source-id", default=None, callback=lsl_name, metavar="ID", help="The EEG stream's source_id.")
@click.option("--hostname", default=None, callback=lsl_name, metavar="HOST",
              help="The host the EEG stream is on. --stream, --type, --source-id, --hostname: give at least one; "
                   "every one given must match, as a decoder's stream selector; the first stream that matches is "
                   "recorded (a note names the others).")
@click.option("--out", type=PathArg(path_type=Path, dir_okay=False), required=True, metavar="FILE.xdf",
              help="The XDF file to create (an existing file is refused: recordings are never overwritten).")
@click.option("--marker-stream", default=None, callback=lsl_name, metavar="NAME",
              help="The cue stream's LSL name [default: NAME-markers or NAME-annotations on the EEG stream's host, "
                   "as the decoders follow].")
@click.option("--marker-type", default=None, callback=lsl_name, metavar="TYPE",
              help="The cue stream's LSL type (e.g. Markers).")
@click.option("--marker-source-id", default=None, callback=lsl_name, metavar="ID", help="The cue stream's source_id.")
@click.option("--marker-hostname", default=None, callback=lsl_name, metavar="HOST",
              help="The host the cue stream is on. Any --marker-* option replaces the default: every one given must "
                   "match, as a decoder's options.markers.stream.")
@click.option("--duration", type=SECONDS, default=None, metavar="SECONDS", callback=finite,
              help="Stop after this many seconds from the stream's opening [default: at Ctrl-C or SIGTERM]; the first "
                   "look at its clock offset (up to 2 s) is recorded whole: a shorter duration records that long.")
@click.option("--input-unit", default="uV", show_default=True, metavar="UNIT",
              help="The unit written for a stream whose desc declares no channel unit (V, mV, uV, or a number and "
                   "a unit for raw counts: '0.02235 uV'); a declared unit is always kept.")
@click.option("--timeout", "resolve_timeout", type=SECONDS, default=10.0, callback=not_nan,
              show_default=True, metavar="SECONDS", help="How long to look for the EEG stream.")
def record_cmd(name: str | None, stype: str | None, source_id: str | None, hostname: str | None, out: Path,
               marker_stream: str | None, marker_type: str | None, marker_source_id: str | None,
               marker_hostname: str | None, duration: float | None, input_unit: str, resolve_timeout: float) -> None:
    """Record an LSL EEG stream and its marker stream to FILE.xdf, with no model: a new subject's calibration
    session for `bci-stream calibrate FILE.xdf --labels ...`, at any rate and channel count.

    Every sample is written in order as received, with its timestamp, the channels' labels, units and types, and
    the clock offsets (pyxdf and calibrate put the markers on the right samples); samples lost on the way are
    counted from the timestamps, as a decoder counts them, and reported, never filled in. What the recorder saw
    (stalls, resumes, gaps, lost samples, steps back, reconnections, and when the marker inlet opened: a cue pushed
    before it was not received) is in the file's events stream (type bci-stream-events: never read as cues). A
    line every 5 s, a summary at the end; Ctrl-C or SIGTERM stops it and finishes the file (exit code 0).

    Exit code 1 when no file is left: the stream not found, not recordable, or stopped (Ctrl-C, SIGTERM) before it
    was found or before its first sample came (nothing to calibrate; `record ... && calibrate ...` stops there); and
    when samples received could not all be written (a full disk, an I/O error, the file removed: the file is left
    with what could be, and says where the rest is missing)."""
    from pylsl.util import LostError, TimeoutError as LslTimeoutError

    from bci_stream.core.errors import StreamError
    from bci_stream.core.out_folder import out_folder_problem
    from bci_stream.core.spec import check_xdf_suffix
    from bci_stream.service.record_only import RecordOnly, refuse_existing
    from bci_stream.service.record_summary import summary

    try:
        stream = selector(name=name, type=stype, source_id=source_id, hostname=hostname)
        if stream is None:
            raise ValueError("give the EEG stream: at least one of --stream, --type, --source-id, --hostname; got none")
        markers = selector(name=marker_stream, type=marker_type, source_id=marker_source_id, hostname=marker_hostname)
        check_xdf_suffix(str(out), "--out")
        refuse_existing(out)  # before waiting for any stream
        if (why := out_folder_problem(out.parent, f"--out {out}: its folder")) is not None:  # as early (before: a
            raise ValueError(why)  # traceback once the stream was found)
        rec = RecordOnly(out, stream, marker_stream=markers, input_unit=input_unit, resolve_timeout=resolve_timeout)
    except (FileExistsError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    stop = threading.Event()
    # a closed terminal (SIGHUP: an SSH session dropped) finishes the file too (s69record F6: rc 129, no footers)
    stops = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in stops}
    try:
        try:
            full = rec.open(stop)
        except (StreamError, FileExistsError) as exc:  # not found, not recordable, the file made meanwhile
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # its folder became unwritable meanwhile
            raise click.ClickException(f"--out {out} cannot be written: {exc}") from None
        except (LostError, LslTimeoutError) as exc:  # found, then gone before its inlet opened
            raise click.ClickException(f"stream {rec.name!r} went away while connecting: {exc}") from None
        if full is not None and not stop.is_set():  # not stopped while it was connecting
            click.echo(f"recording {full.name()!r} ({full.channel_count()} ch, {rec.sfreq:g} Hz) to {out}; markers: "
                       f"{rec.hub.follower.predicate}; " + ("Ctrl-C to stop" if duration is None
                                                            else f"for {duration:g} s (Ctrl-C stops sooner)"))
            rec.run(stop, duration, Progress())
    finally:
        totals = rec.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if full is None:
        raise click.ClickException(f"stopped while looking for stream {rec.name!r}: nothing recorded")
    for line in summary(rec, totals):
        Progress.quietly(say, line)
    if rec.removed or (rec.recorder is not None and (rec.recorder.error is not None or totals.unrecorded)):
        raise SystemExit(1)


class Progress:
    """``bci-stream record``'s progress lines: a progress line on stdout, a warning on stderr; once either is closed
    (``record ... | head -1``), its lines are dropped and the recording goes on (before, the BrokenPipeError ended it
    early, exit 1, nothing said: audit s69record F6), ended by its duration or a signal as before."""

    def __call__(self, line: str) -> None:
        self.quietly(lambda text: click.echo(text, err=text.startswith("warning:")), line)

    @staticmethod
    def quietly(echo, line: str) -> None:
        """``echo(line)``, nothing when its stream is closed (then pointed at os.devnull: Python's flush at exit
        would say 'Exception ignored ... BrokenPipeError' and exit 120)."""
        try:
            echo(line)
        except BrokenPipeError:
            stream = sys.stderr if line.startswith(("error:", "warning:")) else sys.stdout
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except ValueError:  # a closed file object
            pass
