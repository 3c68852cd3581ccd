"""The installed code changes under a running service (a ``pip install -U``, a ``git pull``): a worker started
afterwards, dedicated or shared, refuses to run, saying so, and is not restarted (it crash-looped on whatever the
new code disagreed with, e.g. a ring layout, with only 'exited with code 1' to show). A real copy of the package,
really changed on disk while a supervisor runs from it in its own process; real worker processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bci_stream

SCRIPT = r"""
import json, sys, time
from pathlib import Path

import bci_stream
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor

copy, models_dir = sys.argv[1], sys.argv[2]
assert bci_stream.__file__.startswith(copy), bci_stream.__file__
sup = Supervisor(models_dir, status_interval=0.1, shared_workers=1, restart_backoff=0.1)
ring = Path(bci_stream.__file__).parent / "service" / "ring.py"
ring.write_text(ring.read_text() + "\n# a newer version, installed under the running service\n")
handles = [sup.start(DecoderSpec.model_validate({"stream": {"name": "s15mb-never-" + w}, "model": "tiny-gru",
                                                 "options": {"worker": w}})) for w in ("dedicated", "shared")]
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not all(h.status.state == "error" and h.last_error for h in handles):
    time.sleep(0.05)
time.sleep(0.5)  # a restart, if any, would be counted by now (backoff 0.1 s)
print(json.dumps([{"state": h.status.state, "last_error": h.last_error, "restarts": h.restarts} for h in handles]))
sup.shutdown()
"""


def test_a_worker_started_after_the_code_changed_on_disk_refuses_to_run(tmp_path, models_dir):
    copy = tmp_path / "src"
    shutil.copytree(Path(bci_stream.__file__).parent, copy / "bci_stream",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("BCI_STREAM_CODE_STAMP", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(copy), str(models_dir)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    for decoder in json.loads(out.stdout.strip().splitlines()[-1]):
        assert decoder["state"] == "error" and decoder["restarts"] == 0, decoder
        assert "the bci-stream code on disk changed since serve started" in decoder["last_error"], decoder
        assert decoder["last_error"].endswith("restart serve"), decoder
