"""A command to one worker and its answer (:meth:`~bci_stream.service.supervisor.Supervisor.request`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bci_stream.core.errors import (CommandRefusedError, CommandTimeoutError, DecoderNotReadyError,
                                    DecoderStoppingError, ModelError, ModelUnavailableError, ServiceEndingError)
from bci_stream.core.messages import Command, Reply, Retry, SwapModel, host_boot_id
from bci_stream.core.registry import ModelRegistry
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.backends.starts import wait_sliced
from bci_stream.service.model_pin import describe_pin, drop_copies, pin_dir, pin_error, pin_ref

log = logging.getLogger("bci_stream.supervisor")

#: a command to a worker that ended and that the supervisor has not judged yet (within its poll interval): restarted
#: (``starting``: a retry is answered then) unless its restarts are used up or its stream was refused (``error``)
ENDED = ("decoder {decoder_id}'s worker ended before it answered {kind!r} ({why}): it is restarted unless its "
         "restarts are used up; retry once it is running")


def ended(handle: DecoderHandle, kind: str) -> str:
    """:data:`ENDED` for ``handle``'s worker: a crash, or killed as hung by the supervisor (it sent no status for
    ``hung_kill_s``: a frozen worker a swap waited 60 s for was "a crash"; audit s68fault F4)."""
    why = "a crash: see the decoder's status" if (hung := handle.hung_why) is None else f"killed as hung: {hung}"
    return ENDED.format(decoder_id=handle.id, kind=kind, why=why)


class CommandRejectedError(CommandRefusedError):
    """The worker read the command and refused it (``Reply.ok`` false). ``retry`` is the worker's ``Reply.retry``:
    None when its reason is about the command itself (e.g. a state snapshot of the wrong shape or model), so
    retrying the same command cannot succeed; ``Retry.BUSY`` (not running yet, another swap under way: 409) or
    ``Retry.UNAVAILABLE`` (a model it cannot load *now*, out of memory or file descriptors,
    :mod:`~bci_stream.core.load_errors`: 503 with ``Retry-After``) when it may."""


def wait_or_end(ready: Callable[[float], bool], deadline: float, ending: threading.Event, decoder_id: str, kind: str,
                sent: bool = False) -> bool:
    """``ready(t)`` again (:func:`~bci_stream.service.backends.starts.wait_sliced`) until it is true (True) or
    ``deadline`` (``time.monotonic()``) passed (False); :class:`ServiceEndingError` as soon as ``ending`` is set."""
    what = "was sent and may have been carried out" if sent else "was not sent"
    return wait_sliced(ready, deadline - time.monotonic(), lambda: ServiceEndingError(
        f"decoder {decoder_id}: its {kind!r} command {what}: the service is shutting down (SIGTERM or Ctrl-C) and "
        "stops its decoders") if ending.is_set() else None)


def send_command(handle: DecoderHandle, command: Command, timeout: float, models_dir: str | None = None,
                 ending: threading.Event | None = None) -> Any:
    """Send ``command`` to ``handle``'s worker and wait for its reply; return the payload (errors: see
    :meth:`~bci_stream.service.supervisor.Supervisor.request`). ``models_dir``: the registry a hot swap loaded from
    (its model is copied for the decoder's restarts, :func:`follow_swap`); ``ending``: set when the service's shutdown
    begins, which ends the wait (:class:`ServiceEndingError`: a 503, not a request cut off after the graceful wait)."""
    ending = ending or threading.Event()
    decoder_id = handle.id
    deadline, wall_deadline = time.monotonic() + timeout, time.time() + timeout  # Command.late: which one counts
    # one request at a time per worker, so answers cannot be mixed up; the wait for the one before counts in timeout
    if not wait_or_end(lambda t: handle.request_lock.acquire(timeout=t), deadline, ending, decoder_id, command.kind):
        raise CommandTimeoutError(f"decoder {decoder_id}: {command.kind!r} was not sent: an earlier command to its "
                                  f"worker was still waiting for its answer after {timeout:g} s (a hung worker?)")
    try:
        handle.next_request += 1
        command = replace(command, request_id=(handle.generation, handle.next_request), deadline=deadline,
                          wall_deadline=wall_deadline, boot_id=host_boot_id())
        process, conn = handle.process, handle.cmd_conn
        if handle.stopping:  # a DELETE began while this waited for the request lock (a shared stop holds it)
            raise DecoderStoppingError(f"decoder {decoder_id} is being stopped (a DELETE is in progress): it takes no "
                                       f"{command.kind!r} command; once stopped it is gone (404)")
        if handle.status.state == "starting":  # not reading commands yet: refuse now, not after timeout
            raise DecoderNotReadyError(f"decoder {decoder_id} is starting: reset, state and model commands are "
                                       "taken once it is running (its stream connected): retry then", Retry.BUSY)
        if process is None or not process.is_alive() or handle.status.state == "error":  # a shared worker lives on
            # after one stream's error; its pipe for that decoder is closed (the command got "Broken pipe")
            if handle.status.state != "error" and process is not None and not handle.stopping:
                raise DecoderNotReadyError(ended(handle, command.kind), Retry.BUSY)
            raise DecoderNotReadyError(f"decoder {decoder_id} has no running worker (state "
                                       f"{handle.status.state!r})")
        try:
            conn.send(command)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not wait_or_end(conn.poll, deadline, ending, decoder_id, command.kind, sent=True):
                    raise CommandTimeoutError(f"decoder {decoder_id} did not answer {command.kind!r} within "
                                              f"{timeout:g} s")
                reply = conn.recv()
                if isinstance(reply, Reply) and reply.request_id == command.request_id:
                    break
        except (OSError, EOFError) as exc:  # EOFError has no text: say what happened
            if not handle.stopping:  # a crash the supervisor is about to judge: restarted (retry then), or final
                raise DecoderNotReadyError(ended(handle, command.kind), Retry.BUSY) from None
            raise CommandRefusedError(f"decoder {decoder_id} did not answer {command.kind!r}: it was stopped (DELETE) "
                                      f"before it answered" + (f" ({exc})" if str(exc) else "")) from None
    finally:
        handle.request_lock.release()
    if not reply.ok:
        raise CommandRejectedError(str(reply.error), reply.retry)
    if isinstance(command, SwapModel):
        fields = follow_swap(handle, reply.payload.model, models_dir)
        return replace(reply.payload, model=reply.payload.model | fields)
    return reply.payload


def follow_swap(handle: DecoderHandle, model: dict[str, Any], models_dir: str | None = None) -> dict[str, Any]:
    """After a hot swap, a restarted worker runs the model now running (``name@version``, and, with ``models_dir``,
    the decoder's own copy of its files: :mod:`~bci_stream.service.model_pin`), into the same decoded outlet (its
    source_id kept: consumers re-subscribe to it as after any restart). When the registry holds other bytes under
    that name already (replaced between the swap and its answer), the copy is an error: a restart ends in it
    (``error``, final) rather than run another model. Returns the status ``model``'s pin fields (``pinned``,
    ``registry_now``: :func:`~bci_stream.service.model_pin.describe_pin`, as a worker gives them for the model it
    starts with; ``{}`` without ``models_dir``), kept in ``handle.swap_pin`` for its worker's later snapshots."""
    ref = f"{model['name']}@{model['version']}"
    fields: dict[str, Any] = {}
    if models_dir is not None:
        fields = {"pinned": False}
        try:
            handle.pinned = (ref, model.get("sha256"))  # what its workers must run (also if the copy is lost)
            entry = pin_ref(handle.id, models_dir, ref, expect_sha=model.get("sha256"))
        except (ModelError, ModelUnavailableError, OSError) as exc:
            swap_not_copied(handle, models_dir, ref, model.get("sha256"), exc)
        else:
            fields = describe_pin(entry, models_dir, ref)
        handle.swap_pin = (str(model.get("sha256")), fields)
    opts = handle.spec.options
    source_id = opts.output_source_id or (handle.status.output_stream or {}).get("source_id")
    try:  # validated as the worker will validate it (model_copy does not): a spec no restart could start from
        keep = type(opts).model_validate({**opts.model_dump(), "output_source_id": source_id}).output_source_id
    except ValueError as exc:  # e.g. a control character in the input's source_id: a restart derives a new one
        log.warning("decoder %s: its decoded stream's source_id %r cannot be kept for its restarts (%s)", handle.id,
                    source_id, exc)
        keep = opts.output_source_id
    handle.spec = handle.spec.model_copy(update={
        "model": ref,
        "options": opts.model_copy(update={"output_source_id": keep}),
    })
    return fields


def _registry_now(models_dir: str, ref: str) -> str | None:
    """What the registry holds under ``ref`` now (``sha256 ...``, or why none), or None when that is not known (a
    model unavailable for a reason a retry may cure, an unreadable folder)."""
    try:
        return f"sha256 {ModelRegistry(models_dir).get(ref).card.sha256}"
    except ModelError as exc:  # not found, or invalid
        return str(exc)
    except (ModelUnavailableError, OSError):
        return None


def swap_not_copied(handle: DecoderHandle, models_dir: str, ref: str, sha: str | None, exc: BaseException) -> None:
    """The model a hot swap put in (``ref``, ``sha``) could not be copied for the decoder's restarts (``exc``).

    A failure of the copy itself (``OSError``: a full disk, a file size limit; ``ModelUnavailableError``) while the
    registry still holds those bytes (or cannot tell now) leaves the decoder no copy at all, the one of the model
    before the swap removed: a restart copies the registry's model again, or runs it while it is the bytes the decoder
    ran, else ends in ``error`` (``Supervisor._ensure_pin``). When the registry holds other bytes (or none) under
    ``ref`` now, the copy is that error (:func:`~bci_stream.service.model_pin.pin_error`): a restart ends in it."""
    where = pin_dir(handle.id)
    log.error("decoder %s: the swapped-in model %s (sha256 %s) could not be copied into %s: %s", handle.id, ref, sha,
              where, exc)
    now = None if isinstance(exc, ModelError) else _registry_now(models_dir, ref)
    if not isinstance(exc, ModelError) and (now is None or now == f"sha256 {sha}"):
        if drop_copies(handle.id):
            log.warning("decoder %s: no copy of its model in %s: a restart copies the registry's %s again, or runs it "
                        "only while it is these bytes", handle.id, where, ref)
            return
        log.error("decoder %s: the copy of its model before the hot swap could not be removed from %s: an error "
                  "takes its place", handle.id, where)
    registry = "" if now is None or now == f"sha256 {sha}" else f"; the registry's {ref} is other bytes now ({now})"
    try:
        pin_error(handle.id, f"model {ref!r} (sha256 {sha}) that decoder {handle.id} was swapped to could not be kept "
                  f"for its restarts in {where}: {exc}{registry}; POST the decoder again (or swap again) to run the "
                  "registry's model")
    except OSError as pin_exc:  # the pins folder unusable: a restart compares the registry's bytes instead
        log.error("decoder %s: no copy of its model can be kept in %s (%s): a restart runs the registry's %s only "
                  "while it is these bytes (sha256 %s)", handle.id, where, pin_exc, ref, sha)
