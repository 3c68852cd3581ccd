"""Fault 7 with a recording: ``kill -9`` of a recording decoder's worker never ends the decoder for its file's name.

A restarted worker writes ``<stem>.<n><suffix>`` (``x.2.xdf``). Before, when that file existed (another decoder's
``record_path``, legal) or the longer name was over the filesystem's limit per name (a ``record_path`` of 255 bytes,
accepted and recorded to), the restart failed and the decoder ended in a final ``error``: decoding stopped for good.
Now the restarted worker takes the next free name, and a ``record_path`` whose file name leaves no room for ``.<n>``
is refused at POST (422). Real uvicorn, real LSL, real dedicated worker processes killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import LivePusher, make_settings, start_running, status
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet

pytestmark = pytest.mark.timeout(300)
#: what a restarted worker may add to a file name (``.`` and 6 digits: ``record_paths.RESTART_SUFFIX_BYTES``)
RESTART_SUFFIX_BYTES = 7


def name_max(folder: Path) -> int:
    """The filesystem's limit per name (bytes) in ``folder``."""
    return os.pathconf(folder, "PC_NAME_MAX")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def server(fault_models: Path, recordings: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(make_settings(fault_models, recordings, max_restarts=2)) as srv:
        yield srv


def kill_and_await_restart(client, decoder_id: str) -> dict:
    """SIGKILL the decoder's worker; its status once a new worker decodes (``restarts`` 1)."""
    first = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 100, 60,
                        "decoding under way")
    os.kill(first["pid"], signal.SIGKILL)
    return wait_status(client, decoder_id, lambda s: s["state"] == "error" or (
        s["restarts"] == 1 and s["pid"] != first["pid"] and s["state"] == "running"
        and s["counters"].get("samples_out", 0) > 100), 90, "the restarted worker to decode (or the decoder to end)")


def test_a_restart_whose_file_is_another_decoders_takes_the_next_free_name(client, recordings):
    """A records to ``<d>/x.2.xdf``, B to ``<d>/x.xdf``; B's worker is killed: its restart would write A's file."""
    folder = unique("collide")
    pushers = []
    try:
        ids = {}
        for who, path in (("a", f"{folder}/x.2.xdf"), ("b", f"{folder}/x.xdf")):
            name = unique(f"collide-{who}")
            pushers.append(LivePusher(new_outlet(name, f"{name}-src")[0], seed=len(pushers)))
            pushers[-1].start()
            ids[who] = start_running(client, name, record_path=path, worker="dedicated")
        a_pid = status(client, ids["a"])["pid"]
        st = kill_and_await_restart(client, ids["b"])
        assert st["state"] == "running", st["last_error"]  # before: error, restarts 1, "cannot be recorded to"
        third = recordings / folder / "x.3.xdf"
        assert st["record"]["path"] == str(third)  # the status says which file it records to
        wait_status(client, ids["b"], lambda s: s["record"]["bytes"] > 0 and s["record"]["error"] is None, 30,
                    "the restarted worker's file written")
        a = status(client, ids["a"])
        assert a["state"] == "running" and a["restarts"] == 0 and a["pid"] == a_pid
        assert a["record"]["path"] == str(recordings / folder / "x.2.xdf")
        # the file B records to now is claimed: a request for it is refused before it would be created
        r = client.post("/recordings", json={"stream": {"name": "any"}, "out": f"{folder}/x.3.xdf"})
        assert r.status_code == 422 and "exists" in r.text, r.text
        ends = [client.delete(f"/decoders/{i}").json() for i in ids.values()]
        assert [(e["state"], e["exit_code"]) for e in ends] == [("stopped", 0)] * 2, ends
        assert sorted(os.listdir(recordings / folder)) == ["x.2.xdf", "x.3.xdf", "x.xdf"]
    finally:
        for p in pushers:
            p.halt.set()


def test_a_record_path_with_no_room_for_the_restart_suffix_is_refused(client, recordings):
    limit = name_max(recordings)
    longest = limit - RESTART_SUFFIX_BYTES
    for size in (limit, longest + 1):  # before: 201, recorded, and its restart ended the decoder for good
        path = "r" * (size - 4) + ".xdf"
        r = client.post("/decoders", json={"stream": {"name": "any"}, "model": "tiny-gru",
                                           "options": {"record_path": path}})
        assert r.status_code == 422, r.text
        (detail,) = r.json()["detail"]
        assert detail["loc"] == ["body", "options", "record_path"]
        assert detail["msg"] == (f"record_path {path!r} cannot be written: its file name must be at most {longest} "
                                 f"bytes (the filesystem's limit of {limit} bytes per name, less "
                                 f"{RESTART_SUFFIX_BYTES} for the '.<n>' a restarted worker adds to it), got {size} "
                                 "bytes")


def test_a_record_path_just_under_the_limit_restarts_and_records(client, recordings):
    longest = name_max(recordings) - RESTART_SUFFIX_BYTES
    path = "k" * (longest - 4) + ".xdf"
    name = unique("longrec")
    pusher = LivePusher(new_outlet(name, f"{name}-src")[0], seed=9)
    pusher.start()
    try:
        decoder_id = start_running(client, name, record_path=path, worker="dedicated")
        st = kill_and_await_restart(client, decoder_id)
        assert st["state"] == "running", st["last_error"]
        second = recordings / ("k" * (longest - 4) + ".2.xdf")
        assert st["record"]["path"] == str(second)
        wait_status(client, decoder_id, lambda s: s["record"]["bytes"] > 0 and s["record"]["error"] is None, 30,
                    "the restarted worker's file written")
        end = client.delete(f"/decoders/{decoder_id}").json()
        assert (end["state"], end["exit_code"]) == ("stopped", 0), end
        assert (recordings / path).stat().st_size > 0 and second.stat().st_size > 0
    finally:
        pusher.halt.set()
