"""``serve`` raises its soft limit of open files to what its caps may need (a decoder holds ~6 file descriptors in the
API process, a recording ~23, a connection one: every cap at its default would pass the soft limit of 1024 many
systems give), as far as the hard limit allows, and says when the hard limit is too low. A real ``bci-stream serve``
started with a soft limit of 1024; its limits read from ``/proc``. Before, it ran with the 1024 it was given."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import httpx
import pylsl
import pytest

from bci_stream.api.open_files import open_files_needed
from bci_stream.lsl.info import make_stream_info
from bci_stream.core.settings import Settings
from support.bound_port import wait_bound_port
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique
from support.lsl import wait_for
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(180)
FEW = 64  # open files a serve is started with to run out of them


def open_files_limits(pid: int) -> tuple[int, int]:
    line = next(ln for ln in Path(f"/proc/{pid}/limits").read_text().splitlines() if ln.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


@pytest.mark.parametrize("hard", [4096, 2000])
def test_serve_raises_its_open_files_limit_to_what_its_caps_need(tmp_path: Path, hard: int) -> None:
    need = open_files_needed(Settings())
    assert need == 2816  # 256 + 8 x 64 decoders + 24 x 64 recordings + 512 connections
    _, hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard_now != resource.RLIM_INFINITY and hard_now < hard:
        pytest.fail(f"this test needs a hard open-files limit of at least {hard}, the machine gives {hard_now}")
    env = dict(os.environ, BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    env.pop("BCI_STREAM_TOKEN", None)
    with serve_process(env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))) \
            as (proc, lines):
        wait_bound_port(lambda: "\n".join(lines), proc)
        assert open_files_limits(proc.pid) == (min(need, hard), hard)
    text = "\n".join(lines)
    if hard >= need:
        assert f"open-files limit raised from 1024 to {need} (of {need} needed by the caps)" in text, text
        assert "under the" not in text, text
    else:
        assert (f"the open-files limit of this process is {hard} (hard), under the {need} its caps may need "
                "(max_decoders, max_recordings, http_max_connections)") in text, text
        assert f"open-files limit raised from 1024 to {hard}" in text, text


def test_a_recording_that_runs_out_of_open_files_names_the_limit(tmp_path: Path) -> None:
    """Review s48: a recording failing for want of file descriptors said liblsl's "could not create stream inlet"
    alone. Now its error names this process's open-files limit and what to do. A real ``serve`` started with a limit
    of :data:`FEW` descriptors (about 10 taken at start, about 23 per recording), recordings started until one ends in
    error; the service answers on."""
    env = dict(os.environ, BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    env.pop("BCI_STREAM_TOKEN", None)
    name = unique("fdrec")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src", unit="uV"))
    errors: list[str] = []
    with serve_process(env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (FEW, FEW))) \
            as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
            for i in range(8):
                r = client.post("/recordings", json={"stream": {"name": name}, "out": f"r{i}.xdf",
                                                     "options": {"resolve_timeout": 30}})
                assert r.status_code == 201, r.text
                rid = r.json()["id"]
                st = wait_for(lambda: (s := client.get(f"/recordings/{rid}").json())["state"] != "searching" and s,
                              60.0, "the recording to start or fail")
                if st["state"] == "error":
                    errors.append(st["error"])
                    break
            assert client.get("/health").status_code == 200
    assert outlet is not None and errors, "every recording started: the limit was never reached"
    assert f"its limit (RLIMIT_NOFILE) is {FEW}, hard limit {FEW}" in errors[0], errors[0]
    assert "raise it (systemd LimitNOFILE=, ulimit -n) or lower max_recordings, max_decoders or http_max_connections)" \
        in errors[0], errors[0]
