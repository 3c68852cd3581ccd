"""onnxruntime's telemetry is off in bci-stream's commands and the processes they start (found by an audit of non-root
deployments: each process wrote a device id and a database into the user's HOME, ``~/.cache/Microsoft/DeveloperTools/
.onnxruntime``, and printed a coloured warning where HOME was not writable; deploy/README says the service writes only
under recordings_dir). A user who sets ``ORT_DISABLE_TELEMETRY`` keeps their value."""

from __future__ import annotations

import os
import subprocess
import sys

from support.common import REPO


def test_a_command_that_runs_onnx_models_writes_nothing_into_home(models_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"HOME": str(home)}
    res = subprocess.run([sys.executable, "-m", "bci_stream.cli", "inspect", "tiny-gru", "--models-dir",
                          str(models_dir)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert list(home.rglob("*")) == [], list(home.rglob("*"))  # before: .cache/Microsoft/.../onnxruntime.db
    assert "telemetry" not in res.stderr
