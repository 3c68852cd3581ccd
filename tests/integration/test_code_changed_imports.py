"""Code that no longer imports, changed under a running service (a module renamed, a syntax error): a worker started
afterwards, dedicated or shared, refuses to run with "restart serve" and is not restarted. It used to import the
changed code before it compared the code stamp, and ended as a crash (exit 1, an ImportError, restarted). A real
copy of the package, changed on disk while a supervisor runs from it in its own process; real worker processes.
The refusal survives a release that renames a field of the status or moves its module: it is built of builtins
(it used to be built by the service's classes from the new code's names, and lost its reason, or imported the new
module into serve). Also: the modules a worker's spawn target needs before its check import nothing else of
bci-stream."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bci_stream

SCRIPT = r"""
import json, sys, time
from pathlib import Path

import bci_stream
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor

copy, models_dir, breakage = sys.argv[1], sys.argv[2], sys.argv[3]
assert bci_stream.__file__.startswith(copy), bci_stream.__file__
sup = Supervisor(models_dir, status_interval=0.1, shared_workers=1, restart_backoff=0.1)
service = Path(bci_stream.__file__).parent / "service"
if breakage == "renamed":  # a module the worker imports, renamed by an upgrade (the API process has it loaded)
    assert "bci_stream.lsl.gaps" in sys.modules
    (service.parent / "lsl" / "gaps.py").rename(service.parent / "lsl" / "gap_tracking.py")
elif breakage == "syntax_error":  # a syntax error in a module the worker imports, edited under the running service
    slot = service / "stream_slot.py"
    slot.write_text(slot.read_text() + "\ndef broken(:\n")
else:  # a release that renames a field of the status, or moves its module (and everything naming them)
    core, entry = service.parent / "core", service / "worker_entry.py"
    if breakage == "status_field_renamed":
        status = core / "status.py"
        status.write_text(status.read_text().replace("    error: str | None = None", "    reason: str | None = None"))
        entry.write_text(entry.read_text().replace("error=why", "reason=why"))
    else:
        (core / "status.py").rename(core / "worker_status.py")
        entry.write_text(entry.read_text().replace('"bci_stream.core.status"', '"bci_stream.core.worker_status"'))
handles = [sup.start(DecoderSpec.model_validate({"stream": {"name": "s16fb-never-" + w}, "model": "tiny-gru",
                                                 "options": {"worker": w}})) for w in ("dedicated", "shared")]
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not all(h.status.state == "error" and h.last_error for h in handles):
    time.sleep(0.05)
time.sleep(0.5)  # a restart, if any, would be counted by now (backoff 0.1 s)
assert "bci_stream.core.worker_status" not in sys.modules  # serve never imports the worker's code
print(json.dumps([{"state": h.status.state, "last_error": h.last_error, "restarts": h.restarts,
                   "exit_code": h.exit_code} for h in handles]))
sup.shutdown()
"""


@pytest.mark.parametrize("breakage", ["renamed", "syntax_error", "status_field_renamed", "status_module_moved"])
def test_code_that_no_longer_imports_is_refused_not_crashed(tmp_path, models_dir, breakage):
    copy = tmp_path / "src"
    shutil.copytree(Path(bci_stream.__file__).parent, copy / "bci_stream",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("BCI_STREAM_CODE_STAMP", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(copy), str(models_dir), breakage], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    for decoder in json.loads(out.stdout.strip().splitlines()[-1]):
        assert decoder["state"] == "error" and decoder["restarts"] == 0 and decoder["exit_code"] == 3, decoder
        assert decoder["last_error"].startswith("the bci-stream code on disk changed since serve started"), decoder
        assert decoder["last_error"].endswith("restart serve"), decoder


def test_a_workers_first_modules_import_only_the_standard_library():
    code = ("import sys; import bci_stream.service.worker_entry; "
            "print(sorted(m for m in sys.modules if m.startswith(('bci_stream', 'numpy', 'pylsl', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["['bci_stream',", "'bci_stream.service',", "'bci_stream.service.code_stamp',",
                                  "'bci_stream.service.worker_entry']"]
