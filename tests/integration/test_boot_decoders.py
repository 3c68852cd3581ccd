"""Decoders listed in the config file (``[[decoders]]`` tables, the ``decoders`` setting) start when ``serve`` starts,
and again after a restart of the service (audit s41, ops: a systemd or docker restart left the service with no
decoder, every one to be posted again). An entry refused by the checks of ``POST /decoders`` (here: a model that is
not there) is logged, naming its place, the setting's origin and why, and the others start. One given an ``id`` keeps
it across the restart (audit s46 API S4: a new random id each start made every /metrics series new). A real ``serve``
(twice), its log read; a real LSL stream; the decoders' status read over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from support.bound_port import listening_port
from support.common import unique
from support.lsl import new_outlet, wait_for
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(300)


def test_the_decoders_of_the_config_file_start_with_serve_and_again_after_a_restart(tmp_path: Path,
                                                                                      models_dir: Path) -> None:
    name = unique("boot")
    outlet, _ = new_outlet(name, f"{name}-src")
    config = tmp_path / "bci.toml"
    config.write_text(f'models_dir = "{models_dir}"\n'
                      f'recordings_dir = "{tmp_path / "rec"}"\n\n'
                      '[[decoders]]\n'
                      'id = "boot-left"\n'
                      'model = "tiny-gru"\n'
                      f'stream = {{ name = "{name}" }}\n'
                      'options = { worker = "shared", stall_timeout_s = 2.0, record_path = "session.xdf" }\n\n'
                      '[[decoders]]\n'
                      'id = "boot-missing"\n'
                      'model = "no-such-model"\n'
                      f'stream = {{ name = "{name}" }}\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCI_STREAM_") or k == "BCI_STREAM_DATA"}
    ids = []
    for _ in range(2):  # the service started, then started again (a restart): the decoder comes back each time
        with serve_process(env, "--config", str(config)) as (proc, lines):
            with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
                running = wait_for(lambda: [d for d in client.get("/decoders").json() if d["state"] == "running"],
                                   90, "the configured decoder running")
                (decoder,) = client.get("/decoders").json()  # the refused entry is not there
                wait_for(lambda: decoder["id"] and client.get(f"/decoders/{decoder['id']}").json()["counters"][
                    "samples_in"] >= 0, 30, "its status")
                assert decoder["stream"]["name"] == name and decoder["model"]["name"] == "tiny-gru", decoder
                assert running[0]["id"] == decoder["id"]
                ids.append(decoder["id"])
                # the refused entry is listed with why in /ready (200: the service works) and counted in /metrics
                ready = client.get("/ready")
                (refused,) = ready.json()["decoders_not_started"]
                assert ready.status_code == 200 and refused.startswith("decoders[1] (id 'boot-missing', stream ") \
                    and "no-such-model" in refused.split(" is not started: ")[1], ready.json()
                assert "bci_stream_configured_decoders_not_started 1.0" in client.get("/metrics").text
                # posted again with its id once mended: no longer listed (audit s69deploy F5: listed until a restart)
                r = client.post("/decoders", json={"id": "boot-missing", "model": "tiny-gru", "stream": {"name": name}})
                assert r.status_code == 201, r.text
                assert client.get("/ready").json()["decoders_not_started"] == []
                assert "bci_stream_configured_decoders_not_started 0.0" in client.get("/metrics").text
                assert client.delete("/decoders/boot-missing").status_code == 200
        log = "\n".join(lines)
        assert (f"decoders[0] (id 'boot-left', stream {{'name': '{name}'}}, model 'tiny-gru') started as decoder "
                "boot-left") in log, log
        assert (f"WARNING decoders[1] (id 'boot-missing', stream {{'name': '{name}'}}, model 'no-such-model') of "
                f"config file "
                f"{str(config)!r}: key 'decoders' is not started: model: ") in log, log
        assert "no-such-model" in log.split("decoders[1]")[1].splitlines()[0]
    assert ids == ["boot-left", "boot-left"]  # its id given: the same after the restart (the /metrics series too)
    # its record_path, an earlier start's file at the restart: this start records to a file of its own (audit
    # s69deploy F1: refused on every start after the first, /ready 200), and says so
    files = sorted(p.name for p in (tmp_path / "rec").iterdir())
    (second,) = [f for f in files if f != "session.xdf"]
    assert "session.xdf" in files and len(files) == 2 and second.startswith("session-2"), files
    assert f"decoders[0]: record_path 'session.xdf' exists (an earlier start's recording): this start records to " \
           f"'{second}'" in log, log
    del outlet
