"""Live decoded outputs over WebSocket, and the latency histograms of a decoder."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from bci_stream.api.deps import TOKEN_HELP, TOKEN_QUERY, Authorised, token_ok
from bci_stream.api.error_docs import errors
from bci_stream.api.routers.decoders import HandleDep
from bci_stream.api.ws_flow import TRANSPORT_KEY, backlogged, limit_send_buffer
from bci_stream.api.ws_query import WS_POLICY_VIOLATION, QueryError, check_names, query_bool, query_int, reason
from bci_stream.core.errors import DecoderNotReadyError
from bci_stream.core.messages import Retry
from bci_stream.service.caps import WS_TRY_AGAIN_LATER, ws_clients_full
from bci_stream.service.ring import N_META, MarkerFeed
from bci_stream.service.ring_seek import seek_seq
from bci_stream.service.metrics import EDGES, summarise
from bci_stream.service.worker import EXIT_REFUSED

router = APIRouter(prefix="/decoders", tags=["outputs"])

POLL_S = 0.05  # how often a WebSocket session looks for new outputs
BACKLOG_POLL_S = 0.01  # how often it looks whether a backlogged client's earlier message has left
MAX_ROWS_PER_MESSAGE = 2000
WS_NOT_FOUND = 4404
WS_INTERNAL_ERROR = 1011
QUERY_NAMES = ("decimate", "markers", "from_seq", "instance", "latest", TOKEN_QUERY)  # the WebSocket's parameters
#: an ``error`` with no restart scheduled for this long is final. The supervisor shows a crashed decoder whose restart
#: waits as ``starting`` (``restart_at`` set) and ``error`` only when final; but a worker reports ``error`` itself
#: just before it exits, for up to a liveness check (``poll_interval``) before the supervisor judges the exit.
ERROR_FINAL_S = 3.0


def finite_or_null(y: np.ndarray) -> list[Any]:
    """``y`` as nested lists, a NaN or inf as ``null``: JSON has no NaN (a browser's ``JSON.parse`` refuses the
    ``NaN`` Python's json writes), and a diverged model's rows must not break the dashboard or a client."""
    if np.isfinite(y).all():
        return y.tolist()
    return np.where(np.isfinite(y), y, None).tolist()


def failed_since(handle: Any, since: float | None, now: float) -> float | None:
    """When the decoder entered an ``error`` no restart is scheduled for (``since``, kept while it lasts), else None."""
    if handle.status.state != "error" or handle.restart_at is not None:
        return None
    return now if since is None else since


def failed_for_good(handle: Any, since: float | None, now: float) -> bool:
    """True for a decoder that will not decode again: its start was refused (wrong stream or model), or it has been
    in ``error`` with no restart scheduled for :data:`ERROR_FINAL_S`."""
    return since is not None and (handle.exit_code == EXIT_REFUSED or now - since >= ERROR_FINAL_S)


async def watch_client(websocket: WebSocket, gone: asyncio.Event) -> None:
    """Read (and ignore) what the client sends until it goes, then set ``gone``: its close, its vanishing, or the
    server's shutdown closing it. The output loop only sends, so without this a client that left while no row came
    (a decoder waiting for its stream, or stalled) was never noticed, and uvicorn's shutdown waited on it for good."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: the session already ended (closed by the loop)
        pass
    finally:
        gone.set()


async def pause(gone: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when the client goes."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(gone.wait(), seconds)


@router.websocket("/{decoder_id}/outputs")
async def stream_outputs(websocket: WebSocket, decoder_id: str) -> None:
    """Decoded outputs as JSON messages, about 20 per second:
    ``{"seq": [...], "t": [...], "state_epoch": [...], "y": [[...]], "labels": [...], "dropped": n}``.

    With ``?markers=true``, each marker of the decoder's marker stream also comes, once and in order, as
    ``{"type": "marker", "index": i, "value": "T1", "timestamp": t, "class": "fists" | null, "dropped": n}``
    (``timestamp`` on this host's clock like ``t``; ``class`` the output label it cues, when scored).

    Each client reads from its own cursor in the decoder's output ring: a client that reads too slowly
    loses the oldest rows (counted in ``dropped``), never slowing the decoder or other clients. What waits
    for a client on the server's side is bounded (:mod:`bci_stream.api.ws_flow`): once it is full, new rows
    stay in the ring, which drops the oldest when it laps the client's cursor.

    Closes: 1000 ``decoder stopped`` (deleted), 4404 (no such decoder), 1011 with the decoder's last error when it
    failed for good (its start refused, or restarts exhausted), 1008 (bad token or query), 1013 (try again later)
    when ``max_ws_clients`` clients are open already, over all decoders (:mod:`bci_stream.service.caps`).

    Query: ``decimate`` (send every n-th output sample by seq, an integer from 1 to 10000, default 1),
    ``markers`` (true/false, default false), ``from_seq`` (a resume: the outputs from that input sample on, as far
    as the ring still holds them, ``outputs_buffer_s``; the seqs before the oldest it holds are counted in ``dropped``;
    default: from now on), ``instance`` (with ``from_seq``: the ``instance`` of the messages the client got; when the
    decoder under this id is another one now, deleted and posted again or the service restarted, its outputs come
    from its first seq on, as far as the ring holds them, instead of from ``from_seq``) and ``latest`` (true/false,
    default false: each message carries only the newest row of those
    waiting, the others counted in ``skipped``, at most one message per :data:`POLL_S`: a feedback display or
    dashboard that shows the current output, never a backlog; after a slow read it gets the newest row, not the
    ones the ring still holds), and ``token`` (the API token, when not in the ``Authorization`` header). A bad value,
    a parameter not among these (a typo) or one given twice is accepted and then closed with code 1008 and a reason
    naming the parameter, the rule and the value (:mod:`bci_stream.api.ws_query`).
    """
    if not token_ok(websocket.app.state.settings, websocket.headers.get("authorization"),
                    websocket.query_params.get(TOKEN_QUERY)):
        await websocket.close(code=WS_POLICY_VIOLATION, reason=TOKEN_HELP)  # before accept: no data is sent
        return
    try:
        check_names(websocket.query_params, QUERY_NAMES)
        decimate = query_int(websocket.query_params, "decimate", 1, 1, 10000)
        markers = query_bool(websocket.query_params, "markers", False)
        from_seq = query_int(websocket.query_params, "from_seq", -1, 0, 2**53)
        instance = query_int(websocket.query_params, "instance", -1, 0, 2**62)
        latest = query_bool(websocket.query_params, "latest", False)
        if latest and from_seq >= 0:
            raise QueryError("latest=true sends only the newest row: it cannot resume from_seq; give one or the other")
        if instance >= 0 and from_seq < 0:
            raise QueryError("instance goes with from_seq (a resume names the decoder instance its seqs are of); give "
                             "from_seq too, or neither")
    except QueryError as exc:  # accepted, then closed: the client can read the reason (a refused handshake: no)
        await websocket.accept()
        await websocket.close(code=WS_POLICY_VIOLATION, reason=reason(str(exc)))
        return
    supervisor = websocket.app.state.supervisor
    handle = supervisor.get(decoder_id)
    reader = supervisor.reader(decoder_id)
    await websocket.accept()  # before any close: a close before accept reaches the client as a bare HTTP 403
    if handle is None or reader is None:
        await websocket.close(code=WS_NOT_FOUND, reason=reason(f"decoder {decoder_id!r} not found"))
        return
    slots = websocket.app.state.ws_slots
    if not slots.take():  # max_ws_clients sessions run (over all decoders): each holds a socket of this process
        await websocket.close(code=WS_TRY_AGAIN_LATER, reason=reason(ws_clients_full(slots.cap)))
        return
    try:
        await serve_outputs(websocket, decoder_id, handle, reader, decimate, markers, from_seq, latest, instance)
    finally:
        slots.give()


def instance_of(handle: Any) -> int:
    """The decoder instance's id in the messages (``instance``): its creation time, µs since the Unix epoch; another
    decoder made under the same id (deleted and posted again, or the service restarted) has another."""
    return int(handle.created * 1e6)


async def serve_outputs(websocket: WebSocket, decoder_id: str, handle: Any, reader: Any, decimate: int,
                        markers: bool, from_seq: int, latest: bool, instance: int = -1) -> None:
    """The session of :func:`stream_outputs` once accepted (its docstring says what is sent, and when it closes)."""
    supervisor = websocket.app.state.supervisor
    own = instance_of(handle)
    if from_seq >= 0 and instance >= 0 and instance != own:  # a resume of another decoder under this id: this one's
        from_seq = 0  # outputs from its first on (before: from that seq on, its first rows withheld: s69publish F1)
    if from_seq >= 0:  # a resume: the rows the ring still holds from that input sample on; the rest counted dropped
        reader.dropped += seek_seq(reader, from_seq)
    transport = websocket.scope.get(TRANSPORT_KEY)
    limit_send_buffer(transport)
    feed = MarkerFeed(handle.status.markers) if markers else None
    error_since: float | None = None
    skipped = 0  # rows passed over for a newer one (latest=true)
    gone = asyncio.Event()
    watcher = asyncio.create_task(watch_client(websocket, gone))
    try:
        # this decoder, not one started since under its id (audit s68api F2: deleted and posted again at once, the
        # session read the old decoder's ring for good, silent)
        while not gone.is_set() and supervisor.get(decoder_id) is handle:
            if feed is not None:
                for index, value, t, cls in feed.read(handle.status.markers):
                    await websocket.send_json({"type": "marker", "decoder_id": decoder_id, "index": index,
                                               "value": value, "timestamp": t, "class": cls,
                                               "dropped": feed.dropped})
            if backlogged(transport):  # the client reads slower than we send: its rows wait in the ring, which
                await pause(gone, BACKLOG_POLL_S)  # drops (and counts) the oldest once it laps this reader
                continue
            rows = reader.read(None if latest else MAX_ROWS_PER_MESSAGE)
            if from_seq > 0 and len(rows) and rows[0, 0] < from_seq:  # asked from a seq not decoded yet
                rows = rows[rows[:, 0] >= from_seq]
            if decimate > 1 and len(rows):
                rows = rows[rows[:, 0].astype(np.int64) % decimate == 0]
            if latest and len(rows) > 1:
                skipped += len(rows) - 1
                rows = rows[-1:]
            if len(rows):
                labels = handle.status.labels
                message = {
                    "decoder_id": decoder_id,
                    "instance": own,
                    "labels": labels,
                    "seq": rows[:, 0].astype(np.int64).tolist(),
                    "t": rows[:, 1].tolist(),
                    "state_epoch": rows[:, 2].astype(np.int64).tolist(),
                    "y": finite_or_null(rows[:, N_META:]),
                    "dropped": reader.dropped,
                }
                await websocket.send_json({**message, "skipped": skipped} if latest else message)
                if latest:  # one message per poll: the newest row then, not one per row as they come
                    await pause(gone, POLL_S)
                continue
            now = time.monotonic()
            error_since = failed_since(handle, error_since, now)
            if failed_for_good(handle, error_since, now):
                why = handle.last_error or handle.status.error or "failed"
                await websocket.close(code=WS_INTERNAL_ERROR, reason=reason(f"decoder {decoder_id} failed: {why}"))
                return
            await pause(gone, POLL_S)
        if not gone.is_set():
            await websocket.close(code=1000, reason="decoder stopped")
    except WebSocketDisconnect:
        pass
    finally:
        watcher.cancel()


@router.get("/{decoder_id}/outputs", status_code=426, responses={426: {"description": "Upgrade Required"}})
def outputs_over_http(decoder_id: str) -> JSONResponse:
    """A plain HTTP GET of the WebSocket endpoint: 426 Upgrade Required, saying how to connect (before: 404
    ``Not Found``, as for a wrong path or id: audit s69publish F5). The WebSocket's contract: :func:`stream_outputs`."""
    return JSONResponse(status_code=426, headers={"Upgrade": "websocket", "Connection": "Upgrade"}, content={
        "detail": f"/decoders/{decoder_id}/outputs is a WebSocket endpoint: connect with a WebSocket client "
                  f"(ws:// or wss://, e.g. websockets.connect('ws://HOST:PORT/decoders/{decoder_id}/outputs')); "
                  f"query parameters: {', '.join(QUERY_NAMES)}"})


@router.get("/{decoder_id}/latency", dependencies=[Authorised], responses=errors(401, 404, 409))
def latency(handle: HandleDep) -> dict[str, Any]:
    """Per-stage latency histograms of the current worker: bucket upper edges (seconds), counts per
    bucket (the last one counts values above the last edge), and percentiles in milliseconds.

    Stages: ``pull`` (waiting in ``pull_chunk``), ``decode`` (the model's step over the chunk: one onnxruntime call
    per chunk, its state updated at every sample), ``publish``, ``service`` (decode + publish and bookkeeping, per
    chunk) and ``e2e`` (output push time minus the input sample's timestamp on this host's clock, per
    sample).
    """
    hists = handle.status.hist
    if handle.status.state == "starting" or not any(h["n"] for h in (hists or {}).values()):  # none yet, a worker's
        # first (empty) ones, or a crashed one's while its restart waits (a Ray placement: the last actor's before)
        state = handle.status.state
        later = state not in ("error", "stopping", "stopped")  # it has not decoded yet: it will (retryable)
        raise DecoderNotReadyError(f"decoder {handle.id!r} has no latency data yet (state {state!r})"
                                   + (": retry once it decodes" if later else ""), Retry.BUSY if later else None)
    return {
        "decoder_id": handle.id,
        "unit": "seconds",
        "edges": EDGES.tolist(),
        "stages": {k: {"counts": h["counts"], "count": h["n"], "sum": h["sum"], "max": h["max"],
                       "summary_ms": summarise(h)} for k, h in hists.items()},
    }
