"""Two decoded outlets of one service never share a source_id, even when their inputs share one.

The supervisor gives a decoder its id as ``options.output_instance`` at start when its stream selector may match a
running or starting decoder's stream (:func:`reserve`, under the lock of
:meth:`bci_stream.service.supervisor.Supervisor.start`, before the worker is spawned). Inputs that are different
streams but share a source_id (two mne-lsl ``PlayerLSL`` with their default ``source_id="MNE-LSL"``, two copies of
one amplifier app) are only known once the workers have resolved them: each derives
``<input source_id>/decoded/<sha[:12]>`` (:func:`bci_stream.lsl.outlets.decoded_source_id`), and they are equal.
The supervisor reads the source_id each worker publishes (``output_stream.source_id`` in its status) and reopens the
later decoder under ``.../<its decoder id>``, as for a second decoder of one stream; the first keeps the
documented id. Until it is reopened (a worker restart, about a second), both outlets carry the id.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from bci_stream.core.errors import OutputIdInUseError
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.output_names import OPEN_STATES, note_shared_name

log = logging.getLogger("bci_stream.supervisor")


def published_id(handle: DecoderHandle) -> str | None:
    """The decoded source_id ``handle``'s worker publishes now, or None (no outlet open, or stopping)."""
    status = handle.status
    if handle.stopping or handle.exit_code is not None or status.state not in OPEN_STATES or not status.output_stream:
        return None
    return status.output_stream.get("source_id") or None


def clash_to_reopen(handle: DecoderHandle, handles: Iterable[DecoderHandle],
                    chosen: Collection[str] = ()) -> DecoderHandle | None:
    """The decoder to reopen under its own id when ``handle`` (whose status just came) publishes the source_id
    another decoder publishes, else None.

    It is ``handle`` (the later one to open its outlet), unless its id was kept on purpose (``output_source_id``:
    a hot-swapped decoder's restart reopens its first outlet) and the other's was not; None when both were kept
    (two explicit ids: nothing here may change them), and None when ``handle`` or the other is among ``chosen`` (the
    ids already set to be reopened: when both statuses come in one pass, only one of the two moves).

    Called at each status snapshot ``handle``'s worker sends, it also notes in that status a decoded stream name
    other decoders publish too (:func:`bci_stream.service.output_names.note_shared_name`: not a source_id clash,
    nothing is reopened, the status and the log say it).
    """
    handles = list(handles)
    note_shared_name(handle, handles)
    sid = published_id(handle)
    if sid is None or handle.id in chosen:
        return None
    other = next((h for h in handles if h is not handle and published_id(h) == sid), None)
    if other is None or other.id in chosen:  # the other one is reopened already (both reported in one pass)
        return None
    if handle.spec.options.output_source_id is None:
        return handle
    return other if other.spec.options.output_source_id is None else None


def twin_of(spec: DecoderSpec, handles: Iterable[DecoderHandle]) -> bool:
    """Whether a decoder of ``handles`` may publish the plain decoded source_id ``spec`` would: it may still run (not
    ended for good, not stopping), its stream may be the one ``spec`` selects (:func:`_same_stream`), it has no
    ``output_instance``, and it runs the same model (or keeps an explicit ``output_source_id``: a swapped decoder keeps
    its first model's source_id)."""
    name = spec.model.split("@")[0]
    return any(not h.stopping and not (h.exit_code is not None and h.restart_at is None) and _same_stream(h, spec)
               and h.spec.options.output_instance is None
               and (h.spec.model.split("@")[0] == name or h.spec.options.output_source_id is not None)
               for h in handles)


def _same_stream(handle: DecoderHandle, spec: DecoderSpec) -> bool:
    """Whether ``spec``'s selector may match ``handle``'s stream: the stream it resolved (its status's ``stream``),
    else its own selector's (no field of both differs). Before, selectors only, and decoders in error counted too: a
    decoder that never found its stream, or one of another stream found by another field, put the next decoder's
    source_id under ``/<its id>`` (audit s69publish F2)."""
    resolved = handle.status.stream or {}
    if not (resolved.get("name") or resolved.get("source_id")):
        return handle.spec.stream.may_select_same(spec.stream)
    sel = spec.stream
    return all(given is None or given == (resolved.get(key) or None) for key, given in (
        ("name", sel.name), ("type", sel.type), ("source_id", sel.source_id), ("hostname", sel.hostname)))


def reserve(handles: dict[str, DecoderHandle], decoder_id: str, spec: DecoderSpec, backend: str) -> DecoderHandle:
    """A new decoder's handle, entered in ``handles`` before its worker is spawned (called under the supervisor's
    lock, with the twin check: of concurrent starts of one stream and model, all but the first get their id as
    ``output_instance``, none publishes another's source_id). :class:`OutputIdInUseError` when its
    ``output_source_id`` is one another decoder publishes or was given."""
    if (sid := spec.options.output_source_id) is not None and (other := next((
            h for h in handles.values() if published_id(h) == sid or (
                h.spec.options.output_source_id == sid and h.exit_code is None and not h.stopping)), None)):
        raise OutputIdInUseError(  # before: accepted, and the running decoder was moved (audit s67readme F4)
            f"options.output_source_id {sid!r} is the decoded source_id of decoder {other.id}: two outlets never "
            "share a source_id (liblsl would move a consumer from one to the other); give another, or none")
    if spec.options.output_instance is None and twin_of(spec, handles.values()):
        spec = spec.model_copy(update={"options": spec.options.model_copy(update={"output_instance": decoder_id})})
    handles[decoder_id] = handle = DecoderHandle(id=decoder_id, spec=spec, backend=backend)
    return handle


def apart(spec: DecoderSpec, decoder_id: str) -> DecoderSpec:
    """``spec`` publishing under ``<input source_id>/decoded/<sha[:12]>/<decoder_id>`` (``output_instance``)."""
    return spec.model_copy(update={"options": spec.options.model_copy(
        update={"output_instance": decoder_id, "output_source_id": None})})


def set_apart(clashes: set[str], handles: dict[str, DecoderHandle]) -> list[DecoderHandle]:
    """Give every decoder of ``clashes`` (ids; emptied) that is not stopping its :func:`apart` spec; those decoders,
    for the supervisor to restart (called under its lock)."""
    chosen = [handles[i] for i in sorted(clashes) if i in handles and not handles[i].stopping]
    clashes.clear()
    for handle in chosen:
        log.warning("decoder %s publishes source_id %r as another decoder does (their inputs share a source_id, "
                    "or they were started at once for one stream and model); reopening it as .../%s", handle.id,
                    (handle.status.output_stream or {}).get("source_id"), handle.id)
        handle.spec = apart(handle.spec, handle.id)
    return chosen
