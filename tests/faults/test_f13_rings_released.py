"""Deleted shared decoders leave no output ring held by the API process, and their WebSocket readers end normally.

A shared decoder's output ring is a named shared-memory block (``/dev/shm/psm_*``). Deleting the decoder unlinked
it, but the API's own handle (a descriptor and a mapping) stayed open until a full garbage collection freed the
decoder's objects: after ~200 start/stop cycles the API held 116 descriptors of unlinked blocks, their memory still
allocated. Now the API closes its handle when the decoder is freed; a WebSocket reader of that ring, connected at the
DELETE, is let finish its read and then gets its normal close (1000, "decoder stopped"), never an exception.
Real uvicorn in this process (so ``/proc/self``), real LSL, real shared worker processes; Python's collector off
during the cycles, as in a process where no full collection comes.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from faults.kit import LivePusher, start_running, ws_url
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet

pytestmark = pytest.mark.timeout(400)
CYCLES = 6


def held_rings() -> tuple[set[str], set[str]]:
    """The unlinked ``/dev/shm/psm_*`` blocks this process holds: by a descriptor, by a mapping."""
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if "/psm_" in target and target.endswith("(deleted)"):
            fds.add(target)
    with open("/proc/self/maps") as maps:
        mapped = {line.split(None, 5)[-1].strip() for line in maps if "/psm_" in line and "(deleted)" in line}
    return fds, mapped


class Closes(threading.Thread):
    """Reads a WebSocket until the server closes it; keeps the close code and reason, and rows received."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.ws = ws_connect(url, max_size=None, open_timeout=30).__enter__()
        self.rows = 0
        self.code: int | None = None
        self.reason = ""

    def run(self) -> None:
        try:
            while True:
                self.rows += len(json.loads(self.ws.recv()).get("seq", []))
        except ConnectionClosed as exc:
            self.code = None if exc.rcvd is None else exc.rcvd.code
            self.reason = "" if exc.rcvd is None else exc.rcvd.reason


class Errors(logging.Handler):
    """Log records at ERROR or with an exception (a crashed route: uvicorn's "Exception in ASGI application")."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def test_deleted_shared_decoders_leave_no_ring_held_and_their_readers_close_normally(client, server, errors):
    name = unique("rings")
    pusher = LivePusher(new_outlet(name, f"{name}-src")[0], seed=13)
    pusher.start()
    gc.collect()
    before = held_rings()
    held_at_delete: list[int] = []
    gc.disable()
    try:
        for i in range(CYCLES):
            decoder_id = start_running(client, name, worker="shared", outputs_buffer_s=60)
            reader = Closes(ws_url(server.url, decoder_id))
            reader.start()
            wait_status(client, decoder_id, lambda s: reader.rows > 50, 60, f"cycle {i}: rows on the WebSocket")
            end = client.delete(f"/decoders/{decoder_id}").json()
            assert (end["state"], end["exit_code"]) == ("stopped", 0), end
            held_at_delete.append(len(held_rings()[0] - before[0]))  # let go of by the DELETE itself
            reader.join(timeout=30)
            assert not reader.is_alive(), f"cycle {i}: the WebSocket was not closed after the DELETE"
            assert (reader.code, reader.reason) == (1000, "decoder stopped"), (i, reader.code, reader.reason)
            reader.ws.close()
        fds, mapped = held_rings()
    finally:
        gc.enable()
        pusher.halt.set()
    assert held_at_delete == [0] * CYCLES, held_at_delete
    assert fds <= before[0] and mapped <= before[1], (  # before: one descriptor and one mapping per cycle
        f"after {CYCLES} start/DELETE cycles this process holds {len(fds - before[0])} descriptors and "
        f"{len(mapped - before[1])} mappings of unlinked rings")
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_a_reader_of_a_decoder_deleted_and_posted_again_under_its_id_is_closed(client, server, errors):
    """Audit s68api F2: a WebSocket reader of decoder ``re`` whose DELETE was followed at once by a POST of ``re``
    went silent for good (2 runs of 3): its session checked that a decoder of that id existed, and read the old one's
    ring. It is closed as after any DELETE, and a new reader gets the new decoder's rows."""
    name = unique("reuse")
    pusher = LivePusher(new_outlet(name, f"{name}-src")[0], seed=17)
    pusher.start()
    try:
        decoder_id = start_running(client, name, worker="shared")
        reader = Closes(ws_url(server.url, decoder_id))
        reader.start()
        wait_status(client, decoder_id, lambda s: reader.rows > 50, 60, "rows on the WebSocket")
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru", "id": decoder_id,
                                           "options": {"worker": "shared"}})
        assert r.status_code == 201, r.text
        reader.join(timeout=30)
        assert not reader.is_alive(), "the old decoder's reader was not closed"
        assert (reader.code, reader.reason) == (1000, "decoder stopped"), (reader.code, reader.reason)
        reader.ws.close()
        again = Closes(ws_url(server.url, decoder_id))
        again.start()
        wait_status(client, decoder_id, lambda s: again.rows > 50, 60, "the new decoder's rows")
        client.delete(f"/decoders/{decoder_id}")
        again.join(timeout=30)
        again.ws.close()
    finally:
        pusher.halt.set()
    assert not errors.records, [r.getMessage() for r in errors.records]
