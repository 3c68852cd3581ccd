"""What ``bci-stream record`` (and ``DELETE /recordings/{id}``) says at the end of a recording with no model: the file
and what it holds, losses, notes, and the calibrate command (:func:`summary`)."""

from __future__ import annotations

import shlex

from typing import TYPE_CHECKING, Any

from bci_stream.service.record_markers import listed

if TYPE_CHECKING:
    from bci_stream.service.record_only import RecordOnly, RecordTotals


def marker_rule(stream: dict[str, Any] | None) -> str:
    """How the marker stream's samples became the values listed (see the module docstring), for the summary."""
    if stream is None:
        return ""
    n = stream.get("n_chans", 1)
    if stream.get("channel_format") == "string":
        return f" ({n} string channels: the first, then each other's non-empty value as a marker)" if n > 1 else ""
    if n > 1:
        return f" (numeric, {n} channels: the description of each non-zero channel)"
    return (" (numeric codes as text, 0 and nan included; a trigger channel with a nominal rate: each change to a "
            "non-zero code)")


def summary(rec: RecordOnly, totals: RecordTotals) -> list[str]:
    """The lines printed at the end: the file and what it holds, losses, notes, and the calibrate command."""
    if rec.removed:
        return [f"warning: no sample of {rec.name!r} was received: nothing recorded ({rec.out} removed)"]
    stream = rec.hub.stream if rec.hub is not None else None
    written = totals.samples - totals.unrecorded  # what the file holds, markers too (before: those received)
    lines = [f"recorded {rec.out}: {written} samples of {rec.name!r} ({written / rec.sfreq:.1f} s at "
             f"{rec.sfreq:g} Hz), {totals.markers - totals.unrecorded_markers} markers"
             + (f" from {stream['name']!r}" if stream else "") + f"; lost {totals.lost} samples in the timestamps"
             + (f", {totals.gaps} gap(s) over {rec.gaps.threshold_s:g} s" if totals.gaps else "")
             + (f", {totals.backward_steps} step(s) back" if totals.backward_steps else "")]
    if rec.values is not None and rec.values.counts:
        shown, others = listed(rec.values.counts)
        blank = rec.values.blank
        rest = (f", and {others} other value(s) ({totals.markers - blank - sum(shown.values())} marker(s))"
                if others else "") + (f"; {blank} empty or blank value(s), in the file, no marker (calibrate and the "
                                      "decoders read none there)" if blank else "")
        head = f"markers received ({totals.unrecorded_markers} not in the file): " if totals.unrecorded_markers \
            else "markers: "  # which values went unwritten is not known: the received ones, said so (s67rec F5)
        lines.append(head + ", ".join(f"{v!r} x{n}" for v, n in sorted(shown.items())) + rest
                     + marker_rule(stream))
    lines += [f"note: {n}" for n in rec.notes]
    if totals.unrecorded or totals.unrecorded_markers:
        lines.append(f"warning: {totals.unrecorded} of the {totals.samples} samples received and "
                     f"{totals.unrecorded_markers} markers were not written to the file ({rec.recorder.last_error}); "
                     "its events stream says where ('unrecorded' events)")
    if (err := rec.recorder.error if rec.recorder is not None else None) is not None:
        lines.append(f"error: {err}")
    if totals.markers and rec.values is not None and not rec.values.counts:  # every value empty or blank
        lines.append(f"warning: no marker was recorded: calibrate needs the cues (the {totals.markers} value(s) "
                     f"received from {stream['name'] if stream else 'the marker stream'!r} are all empty or blank)")
    elif totals.markers == 0:
        lines.append(f"warning: no marker was recorded: calibrate needs the cues ({no_markers_reason(rec, stream)})")
    if written:
        lines.append(f"calibrate it: bci-stream calibrate {shlex.quote(str(rec.out))} --labels EVENT=CLASS,EVENT=CLASS "
                     "--name SUBJECT")  # (quoted: a path with a space pasted as printed was two files; s69record F7)
    return lines


def no_markers_reason(rec: RecordOnly, stream: dict | None) -> str:
    """Why no marker is in the file: the marker stream found but silent, the one the user named never found (audit
    s58readme F4: it was told to name it, with the resolver's predicate), or the default looked for."""
    if stream is not None:
        return f"the marker stream {stream['name']!r} was found but sent none"
    if rec.own_input is not None:
        return rec.own_input
    if rec.hub is not None and (refused := rec.hub.follower.error) is not None:  # found, refused: naming it would not
        return f"the marker stream was not followed: {refused}"  # help (audit s62interop F3)
    flag = rec.names["marker_stream"]
    if rec.marker_stream is not None:
        given = ", ".join(f"{k} {v!r}" for k, v in rec.marker_stream.model_dump().items() if v is not None)
        return f"no marker stream of {flag} ({given}) was found while recording: is the stimulus program sending it?"
    looked_for = rec.hub.follower.predicate if rec.hub else rec.name + "-markers"
    return f"is the stimulus program's marker stream {looked_for}? name it with {flag}"
