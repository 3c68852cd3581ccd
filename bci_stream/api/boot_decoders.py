"""The decoders a service starts by itself when it starts (the ``decoders`` setting: ``[[decoders]]`` tables of the
config file, each a ``POST /decoders`` body), so that a restart of the service (systemd, docker) brings them back;
before, every decoder had to be posted again after each restart. Each goes through the same checks as a
``POST /decoders`` (:func:`~bci_stream.api.routers.decoders.create_decoder`); a refused one is logged as a WARNING
naming its place in the list and why, and the others start: a bad entry never stops the service. The refused ones stay
listed, with why, in ``GET /ready`` (``decoders_not_started``) and counted in ``/metrics``
(``bci_stream_configured_decoders_not_started``): a deployment that pins ``name@version`` runs one decoder fewer after
that version is gone, and a probe or an alert sees it (audit s46, reproducibility 10)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Response

from bci_stream.api.routers.decoders import create_decoder
from bci_stream.core.errors import BciStreamError
from bci_stream.core.settings_errors import setting_origin

log = logging.getLogger("bci_stream.api")


def refusal_text(detail: Any) -> str:
    """An HTTPException's detail as one line: a validation list's ``loc: msg`` items, else the text."""
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:]) or 'body'}: {d.get('msg')}"
                         for d in detail if isinstance(d, dict))
    return str(detail)


def start_configured(settings: Any, state: Any) -> list[str]:
    """Start every decoder of ``settings.decoders`` on the app ``state``'s supervisor; the ids of those started. The
    refused entries go to ``state.decoders_not_started``, each as its id (None: none given) and one line (its place,
    stream, model and why): :func:`not_started` lists them."""
    started: list[str] = []
    state.decoders_not_started = refused = []
    for i, spec in enumerate(settings.decoders):
        spec = this_starts_file(spec, settings.recordings_dir, f"decoders[{i}]")
        named = f"id {spec.id!r}, " if spec.id is not None else ""
        what = f"decoders[{i}] ({named}stream {spec.stream.model_dump(exclude_none=True)}, model {spec.model!r})"
        try:
            created = create_decoder(spec, state.supervisor, state.registry, state.recordings, Response())
        except HTTPException as exc:
            why = refusal_text(exc.detail)
            log.warning("%s of %s is not started: %s", what, setting_origin("decoders", settings), why)
        except BciStreamError as exc:  # e.g. its placement cannot be met: said as the API would say it
            why = str(exc)
            log.warning("%s of %s is not started: %s", what, setting_origin("decoders", settings), why)
        except Exception as exc:  # noqa: BLE001 - one entry never stops the service
            why = f"{type(exc).__name__}: {exc}"
            log.exception("%s is not started", what)
        else:
            log.info("%s started as decoder %s", what, created.id)
            started.append(created.id)
            continue
        refused.append((spec.id, f"{what} is not started: {why}"))
    return started


def this_starts_file(spec: Any, recordings_dir: Any, where: str) -> Any:
    """``spec`` recording to a file of this start when its ``record_path`` exists (an earlier start's: a recording is
    never overwritten, and the decoder was refused on every start after the first, ``/ready`` still 200: audit
    s69deploy F1): ``<stem>-<this start, YYYYmmdd-HHMMSS>.xdf`` (``-2``, ``-3``... if that exists too), logged."""
    record_path = spec.options.record_path
    if record_path is None or recordings_dir is None or not os.path.lexists(Path(recordings_dir) / record_path):
        return spec
    stem, suffix = record_path[:-len(Path(record_path).suffix)], Path(record_path).suffix
    stamp = time.strftime("%Y%m%d-%H%M%S")
    k, chosen = 1, f"{stem}-{stamp}{suffix}"
    while os.path.lexists(Path(recordings_dir) / chosen):
        k += 1
        chosen = f"{stem}-{stamp}-{k}{suffix}"
    log.warning("%s: record_path %r exists (an earlier start's recording): this start records to %r", where,
                record_path, chosen)
    return spec.model_copy(update={"options": spec.options.model_copy(update={"record_path": chosen})})


def not_started(state: Any) -> list[str]:
    """The config file's decoders refused at start (``state.decoders_not_started``) but those a decoder of the same id
    replaced since (posted with that id once its cause was mended): before, the list and the /metrics gauge kept them
    until a restart, so an alert on it could not clear (audit s69deploy F5)."""
    supervisor = getattr(state, "supervisor", None)
    return [text for did, text in getattr(state, "decoders_not_started", [])
            if did is None or supervisor is None or supervisor.get(did) is None]

