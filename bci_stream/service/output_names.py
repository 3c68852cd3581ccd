"""Two decoders of one service publishing decoded streams of one name on one host: said, not silent.

A consumer resolving the decoded stream by name (``pylsl.resolve_byprop("name", ...)``, mne-lsl's
``StreamLSL(name=...)``) gets either outlet when two share it (same type and, often, channel count): two decoders of
one input stream (a fists/feet model and a left/right one) both publish ``<input name>-decoded`` unless they are
given ``options.output_name``. That is allowed (their source_ids always differ: :mod:`.output_ids`, and a consumer
resolving by ``output_stream.source_id`` gets the one it means), so it is not refused; but the later decoder's
status says it (``output_stream.name_shared_with``: the other decoders' ids, ``output_stream.note``: what to do),
and the supervisor's log says it once per pair. Outlets on different hosts (Ray nodes) are told apart by their
hostname and are not noted.

:func:`note_shared_name` runs at each status snapshot a worker sends (under the supervisor's lock), on the
snapshot just taken: the note comes and goes with the other decoder, within one ``status_interval``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bci_stream.service.backends.handle import DecoderHandle

log = logging.getLogger("bci_stream.supervisor")

#: States in which a worker has its decoded outlet open (``starting``: not yet; ``error``/``stopped``: gone).
OPEN_STATES = frozenset({"connecting", "running", "stalled"})
#: ``(decoder id, other decoder id, name)`` already logged: the log says a pair once, the status at every snapshot
_logged: set[tuple[str, str, str]] = set()


def published_name(handle: DecoderHandle) -> str | None:
    """The name of the decoded stream ``handle``'s worker publishes now, or None (no outlet open, or stopping)."""
    status = handle.status
    if handle.stopping or handle.exit_code is not None or status.state not in OPEN_STATES or not status.output_stream:
        return None
    return status.output_stream.get("name") or None


def _host(handle: DecoderHandle) -> str | None:
    return (handle.placement or {}).get("hostname")


def _same_host(a: DecoderHandle, b: DecoderHandle) -> bool:
    """Whether two decoders' outlets are on one host (a host not known yet counts as the same)."""
    return _host(a) is None or _host(b) is None or _host(a) == _host(b)


def _earlier(a: DecoderHandle, b: DecoderHandle) -> bool:
    return (a.created, a.id) < (b.created, b.id)


def shared_with(handle: DecoderHandle, handles: Iterable[DecoderHandle]) -> list[DecoderHandle]:
    """The decoders created before ``handle`` that publish, on its host, a decoded stream of the name it publishes
    (by creation time: the later decoder is the one noted)."""
    name = published_name(handle)
    if name is None:
        return []
    return sorted((h for h in handles if h is not handle and _earlier(h, handle) and published_name(h) == name
                   and _same_host(h, handle)), key=lambda h: (h.created, h.id))


def shared_name_note(name: str, others: list[DecoderHandle], source_id: str | None) -> str:
    """What a decoder's status says when ``others`` publish a decoded stream of its ``name``."""
    ids = ", ".join(repr(h.id) for h in others)
    which = f"decoder {ids} publishes" if len(others) == 1 else f"decoders {ids} publish"
    return (f"{which} a decoded stream named {name!r} on this host too: a consumer resolving the decoded stream by "
            f"name gets either one. Start this decoder with options.output_name (e.g. {name + '-2'!r}) to give its "
            f"stream a name of its own, or resolve it by output_stream.source_id ({source_id!r})")


def note_shared_name(handle: DecoderHandle, handles: Iterable[DecoderHandle]) -> str | None:
    """Note in ``handle``'s status (its ``output_stream``: ``name_shared_with``, ``note``) the earlier decoders that
    publish a decoded stream of its name on its host, and log it once per such set of decoders; the note, or None."""
    others = shared_with(handle, handles)
    if not others:
        return None
    out = handle.status.output_stream
    assert out is not None  # published_name() gave a name
    note = shared_name_note(out["name"], others, out.get("source_id"))
    out["name_shared_with"] = [h.id for h in others]
    out["note"] = note
    if (key := (handle.id, out["name"], ",".join(sorted(h.id for h in others)))) not in _logged:
        _logged.add(key)  # once per set of decoders it shares the name with (the note names them all)
        log.warning("decoder %s: %s", handle.id, note)
    return note



def input_clash(output_name: str | None, output_source_id: str | None, input_name: str,
                input_source_id: str) -> str | None:
    """Why the decoded stream may not take the name or source_id asked for (``options.output_name`` /
    ``output_source_id``): the input stream's own, resolved (the request's check sees only the fields its selector
    gives: an input selected by name and given its own source_id as the output's, or by source_id and given its own
    name, was decoded under it; audit s69publish F3, F4). None when neither is."""
    if output_source_id is not None and input_source_id and output_source_id == input_source_id:
        return (f"options.output_source_id must differ from the input stream's source_id (two outlets never share a "
                f"source_id: liblsl would move the input's consumers to the decoded stream), got {output_source_id!r}, "
                f"the source_id of the input {input_name!r} this decoder selected")
    if output_name is not None and output_name == input_name:
        return (f"options.output_name must differ from the input stream's name (a consumer or recorder selecting the "
                f"input by name could get the decoded stream), got {output_name!r}, the name of the input this decoder "
                "selected")
    return None
