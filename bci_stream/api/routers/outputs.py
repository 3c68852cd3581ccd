"""Live decoded outputs over WebSocket, and the latency histograms of a decoder."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from bci_stream.api.deps import TOKEN_HELP, TOKEN_QUERY, Authorised, token_ok
from bci_stream.api.routers.decoders import HandleDep
from bci_stream.api.ws_query import WS_POLICY_VIOLATION, QueryError, query_bool, query_int, reason
from bci_stream.core.errors import DecoderNotReadyError
from bci_stream.service.ring import N_META, MarkerFeed
from bci_stream.service.metrics import EDGES, summarise

router = APIRouter(prefix="/decoders", tags=["outputs"])

POLL_S = 0.05  # how often a WebSocket session looks for new outputs
MAX_ROWS_PER_MESSAGE = 2000


@router.websocket("/{decoder_id}/outputs")
async def stream_outputs(websocket: WebSocket, decoder_id: str) -> None:
    """Decoded outputs as JSON messages, about 20 per second:
    ``{"seq": [...], "t": [...], "state_epoch": [...], "y": [[...]], "labels": [...], "dropped": n}``.

    With ``?markers=true``, each marker of the decoder's marker stream also comes, once and in order, as
    ``{"type": "marker", "index": i, "value": "T1", "timestamp": t, "class": "fists" | null, "dropped": n}``
    (``timestamp`` on this host's clock like ``t``; ``class`` the output label it cues, when scored).

    Each client reads from its own cursor in the decoder's output ring: a client that reads too slowly
    loses the oldest rows (counted in ``dropped``), never slowing the decoder or other clients.

    Query: ``decimate`` (send every n-th output sample by seq, an integer from 1 to 10000, default 1) and
    ``markers`` (true/false, default false). A bad value is accepted and then closed with code 1008 and a
    reason naming the parameter, the rule and the value (:mod:`bci_stream.api.ws_query`).
    """
    if not token_ok(websocket.app.state.settings, websocket.headers.get("authorization"),
                    websocket.query_params.get(TOKEN_QUERY)):
        await websocket.close(code=WS_POLICY_VIOLATION, reason=TOKEN_HELP)  # before accept: no data is sent
        return
    try:
        decimate = query_int(websocket.query_params, "decimate", 1, 1, 10000)
        markers = query_bool(websocket.query_params, "markers", False)
    except QueryError as exc:  # accepted, then closed: the client can read the reason (a refused handshake: no)
        await websocket.accept()
        await websocket.close(code=WS_POLICY_VIOLATION, reason=reason(str(exc)))
        return
    supervisor = websocket.app.state.supervisor
    handle = supervisor.get(decoder_id)
    reader = supervisor.reader(decoder_id)
    if handle is None or reader is None:
        await websocket.close(code=4404, reason=f"decoder {decoder_id!r} not found")
        return
    await websocket.accept()
    feed = MarkerFeed(handle.status.markers) if markers else None
    try:
        while supervisor.get(decoder_id) is not None:
            if feed is not None:
                for index, value, t, cls in feed.read(handle.status.markers):
                    await websocket.send_json({"type": "marker", "decoder_id": decoder_id, "index": index,
                                               "value": value, "timestamp": t, "class": cls,
                                               "dropped": feed.dropped})
            rows = reader.read(MAX_ROWS_PER_MESSAGE)
            if decimate > 1 and len(rows):
                rows = rows[rows[:, 0].astype(np.int64) % decimate == 0]
            if len(rows):
                labels = handle.status.labels
                await websocket.send_json({
                    "decoder_id": decoder_id,
                    "labels": labels,
                    "seq": rows[:, 0].astype(np.int64).tolist(),
                    "t": rows[:, 1].tolist(),
                    "state_epoch": rows[:, 2].astype(np.int64).tolist(),
                    "y": rows[:, N_META:].tolist(),
                    "dropped": reader.dropped,
                })
            else:
                await asyncio.sleep(POLL_S)
        await websocket.close(code=1000, reason="decoder stopped")
    except WebSocketDisconnect:
        pass


@router.get("/{decoder_id}/latency", dependencies=[Authorised])
def latency(handle: HandleDep) -> dict[str, Any]:
    """Per-stage latency histograms of the current worker: bucket upper edges (seconds), counts per
    bucket (the last one counts values above the last edge), and percentiles in milliseconds.

    Stages: ``pull`` (waiting in ``pull_chunk``), ``decode`` (preprocessing + recurrent step: one fused
    onnxruntime call per sample), ``publish``, ``service`` (decode + publish and bookkeeping, per
    chunk) and ``e2e`` (output push time minus the input sample's timestamp on this host's clock, per
    sample).
    """
    hists = handle.status.hist
    if not hists:
        raise DecoderNotReadyError(f"decoder {handle.id!r} has no latency data yet (state {handle.status.state!r})")
    return {
        "decoder_id": handle.id,
        "unit": "seconds",
        "edges": EDGES.tolist(),
        "stages": {k: {"counts": h["counts"], "count": h["n"], "sum": h["sum"], "max": h["max"],
                       "summary_ms": summarise(h)} for k, h in hists.items()},
    }
