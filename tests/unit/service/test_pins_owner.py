"""Model copies left by a service that crashed are removed when a supervisor starts; a live owner's are kept
(:func:`bci_stream.service.model_pin.sweep_stale`), with real processes, real files and a real supervisor."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bci_stream.service.model_pin import OWNER_PREFIX, PINS_ENV, load_pinned, pin_dir, pin_ref, write_pinned
from bci_stream.service.supervisor import Supervisor

#: Pins decoder argv[1] from registry argv[2], says so, then waits to be killed (a service that never unpins).
PIN_AND_WAIT = ("import sys, time\n"
                "from bci_stream.service.model_pin import pin_ref\n"
                "pin_ref(sys.argv[1], sys.argv[2], 'tiny-gru')\n"
                "print('pinned', flush=True)\n"
                "time.sleep(600)\n")


def pinning_process(decoder_id: str, models_dir: Path) -> subprocess.Popen:
    """A real process (another service's stand-in) that has pinned ``decoder_id`` and still runs."""
    proc = subprocess.Popen([sys.executable, "-c", PIN_AND_WAIT, decoder_id, str(models_dir)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "pinned"
    return proc


def owner_records(decoder_id: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in pin_dir(decoder_id).glob(f"{OWNER_PREFIX}*")]


def fake_owner(decoder_id: str, models_dir: Path, **changes: object) -> None:
    """A copy whose one owner record is this process's with ``changes`` (another start time, another host)."""
    pin_ref(decoder_id, models_dir, "tiny-gru")
    [path] = pin_dir(decoder_id).glob(f"{OWNER_PREFIX}*")
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_a_supervisor_start_removes_the_copies_of_crashed_owners_only(models_dir: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture):
    monkeypatch.setenv(PINS_ENV, str(tmp_path / "pins"))
    dead, live = pinning_process("crashed", models_dir), pinning_process("alive", models_dir)
    procs = [dead, live]
    try:
        assert owner_records("crashed")[0]["pid"] == dead.pid
        dead.send_signal(signal.SIGKILL)  # no unpin: its copy is left behind, as by a service killed
        dead.wait(timeout=30)
        pin_ref("mine", models_dir, "tiny-gru")  # this process's: alive
        fake_owner("reused", models_dir, start="1")  # this pid, another process's start time: that one is gone
        fake_owner("elsewhere", models_dir, host="another-node", pid=dead.pid)  # cannot be checked from here
        pin_ref("unowned", models_dir, "tiny-gru")
        for record in pin_dir("unowned").glob(f"{OWNER_PREFIX}*"):  # as a folder of a version without owners
            record.unlink()
        # a Ray actor whose copy another actor (same bytes, now dead) wrote: the restarted one owns it too
        write_pinned("actor", {"model.json": b"{}"})
        [path] = pin_dir("actor").glob(f"{OWNER_PREFIX}*")
        path.rename(pin_dir("actor") / f"{OWNER_PREFIX}dead-actor")
        (pin_dir("actor") / f"{OWNER_PREFIX}dead-actor").write_text(json.dumps(json.loads(
            (pin_dir("actor") / f"{OWNER_PREFIX}dead-actor").read_text()) | {"pid": dead.pid}))
        assert write_pinned("actor", {"model.json": b"{}"}) is False and len(owner_records("actor")) == 2

        with caplog.at_level(logging.INFO, logger="bci_stream.supervisor"):
            sup = Supervisor(str(models_dir), status_interval=0.1)
            sup.shutdown()
        assert sorted(p.name for p in sup.swept) == ["crashed", "reused"]
        assert not pin_dir("crashed").exists() and not pin_dir("reused").exists()
        assert "crashed" in caplog.text and f"pid {dead.pid}" in caplog.text and "reused" in caplog.text
        for kept in ("alive", "mine", "elsewhere", "unowned", "actor"):
            assert pin_dir(kept).is_dir(), kept
        assert load_pinned("alive") is not None and load_pinned("mine") is not None

        live.send_signal(signal.SIGKILL)
        live.wait(timeout=30)
        sup = Supervisor(str(models_dir), status_interval=0.1)
        sup.shutdown()
        assert [p.name for p in sup.swept] == ["alive"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
