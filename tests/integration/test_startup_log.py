"""What ``bci-stream serve`` says as it starts and as decoders come and go (an operator audit): a ``models_dir`` that
gives no model is warned about, naming the setting, where its value came from, the path and the problem; one INFO
line sums the settings up (never the token); an API open to the network without a token is warned about; creating and
deleting a decoder are logged with its id, stream, model and worker. A real ``serve``, its log read."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from support.bound_port import listening_port
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique
from support.http import wait_status
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)
TOKEN = "s41o-secret-token-123"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its BCI_STREAM_* settings (only the test's count), recordings in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCI_STREAM_") or k == "BCI_STREAM_DATA"}
    return {**env, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path / "rec"), **extra}


def _started_log(env: dict[str, str], *args: str) -> str:
    """The log of a serve started with ``env`` and ``args``, stopped once it listens."""
    with serve_process(env, *args) as (proc, lines):
        with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            assert client.get("/health").status_code == 200  # it starts: a lab may add models later
    return "\n".join(lines)


def test_a_models_dir_giving_no_model_is_warned_about_naming_the_setting_its_origin_and_the_problem(
        tmp_path: Path) -> None:
    """Before: no log line at all, and /health said ok (the container's HEALTHCHECK passed with zero models)."""
    missing = tmp_path / "nomodels"
    log = _started_log(_env(tmp_path, BCI_STREAM_MODELS_DIR=str(tmp_path)), "--models-dir", str(missing))
    assert (f" WARNING models_dir {missing} (setting models_dir, from --models-dir) does not exist: every decoder "
            "is refused and /ready answers 503") in log, log
    a_file = tmp_path / "models.txt"  # (given as --models-dir, click refuses it: exit 2)
    a_file.write_text("not a folder\n", encoding="utf-8")
    log = _started_log(_env(tmp_path, BCI_STREAM_MODELS_DIR=str(a_file)))
    assert (f" WARNING models_dir {a_file} (setting models_dir, from environment variable BCI_STREAM_MODELS_DIR) is "
            "not a folder:") in log, log
    (tmp_path / "empty" / "broken").mkdir(parents=True)
    (tmp_path / "empty" / "broken" / "model.json").write_text("{}", encoding="utf-8")
    config = tmp_path / "bci.toml"
    config.write_text('models_dir = "empty"\n', encoding="utf-8")
    log = _started_log(_env(tmp_path), "--config", str(config))
    assert (f" WARNING models_dir {tmp_path / 'empty'} (setting models_dir, from config file {str(config)!r}: key "
            "'models_dir') holds no valid model (1 with problems, first: ") in log, log
    assert re.search(rf" INFO bci-stream \S+ starting: config file {re.escape(str(config))} \(--config\); models_dir "
                     rf"{re.escape(str(tmp_path / 'empty'))} \(config file .*: 0 model\(s\), 1 with problems;",
                     log), log


def test_the_start_is_summed_up_without_the_token_and_an_open_api_is_warned_about(models_dir: Path,
                                                                                   tmp_path: Path) -> None:
    """Before: the log named neither the config file, models_dir, recordings_dir nor whether a token was set; a
    missing env file (no token) on a host reachable from the network went unsaid."""
    models = tmp_path / "models"  # the two tiny models alone: other tests of this process may add to models_dir
    for name in ("tiny-gru", "tiny-lstm"):
        shutil.copytree(models_dir / name, models / name)
    models_dir = models
    log = _started_log(_env(tmp_path, BCI_STREAM_TOKEN=TOKEN), "--models-dir", str(models_dir))
    summary = next(line for line in log.splitlines() if " INFO bci-stream " in line and " starting: " in line)
    assert (f"config file none; models_dir {models_dir} (--models-dir): 2 model(s), 0 with problems; recordings_dir "
            f"{tmp_path / 'rec'} (environment variable BCI_STREAM_RECORDINGS_DIR); API token set; host 127.0.0.1, "
            "port 0") in summary, summary
    assert TOKEN not in log and "WARNING" not in log, log
    log = _started_log(_env(tmp_path, BCI_STREAM_OPEN_API="true"), "--models-dir", str(models_dir), "--host", "0.0.0.0")
    assert "API token not set; host 0.0.0.0" in log, log
    assert (" WARNING no API token is set (setting token, env BCI_STREAM_TOKEN) and host 0.0.0.0 is reachable from "
            "the network: the control API is open to anyone who reaches it, as open_api allows") in log, log
    log = _started_log(_env(tmp_path, BCI_STREAM_TOKEN=TOKEN), "--models-dir", str(models_dir), "--host", "0.0.0.0")
    assert "API token set; host 0.0.0.0" in log and "WARNING" not in log and TOKEN not in log, log
    log = _started_log(_env(tmp_path, BCI_STREAM_TOKEN=TOKEN), "--models-dir", str(models_dir), "--ray-address",
                       "127.0.0.1:6379")  # without --backend ray (audit s61ray F7: said nothing)
    assert (" WARNING ray_address 127.0.0.1:6379 (--ray-address) is not used: backend is 'local' (the default); give "
            "--backend ray to run the decoders on that Ray cluster") in log, log


def test_creating_and_deleting_a_decoder_is_logged_with_its_id_stream_model_and_worker(models_dir: Path,
                                                                                       tmp_path: Path) -> None:
    """Before: only uvicorn's access lines (``POST /decoders 201``) said it, naming neither decoder nor model."""
    name = unique("s41o-log")
    with serve_process(_env(tmp_path), "--models-dir", str(models_dir)) as (proc, lines):
        with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            ids = {}
            for worker in ("shared", "dedicated"):
                r = client.post("/decoders", json={"stream": {"name": name, "type": "EEG"}, "model": "tiny-gru",
                                                   "options": {"worker": worker}})
                assert r.status_code == 201, r.text
                ids[worker] = r.json()["id"]
            for did in ids.values():
                assert client.delete(f"/decoders/{did}").status_code == 200
    log = "\n".join(lines)
    stream = f"name='{name}', type='EEG'"
    for worker, did in ids.items():
        index = r"\[\d+\]" if worker == "shared" else ""
        for what in ("created", "stopped and removed"):
            found = re.findall(rf" INFO decoder {did} {what}: stream {re.escape(stream)}, model tiny-gru, worker "
                               rf"{worker}{index}( \(pid \d+\))?$", log, re.M)
            assert len(found) == 1, log  # once: not twice


def test_uvicorn_lines_have_the_services_format_and_probes_stay_out_of_the_access_log(models_dir: Path,
                                                                                      tmp_path: Path) -> None:
    """Before: uvicorn's lines (``INFO:     ...``) beside the service's (``<time> api INFO ...``), and every
    Prometheus scrape, HEALTHCHECK and /ready probe an access line at INFO (audit s41, ops). A failing probe and every
    other request are still logged; log_level ``debug`` logs the probes too."""
    for level in ("info", "debug"):
        with serve_process(_env(tmp_path, BCI_STREAM_LOG_LEVEL=level), "--models-dir", str(models_dir)) as (proc,
                                                                                                          lines):
            with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
                for path in ("/metrics", "/health", "/ready", "/models", "/decoders/nosuch"):
                    client.get(path)
        log = "\n".join(lines)
        stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} api "
        assert re.search(stamp + r"INFO Uvicorn running on http://127\.0\.0\.1:\d+", log, re.M), log
        assert not re.search(r"^(INFO|WARNING|ERROR): ", log, re.M), log  # no line in uvicorn's own format
        for path, status in (("/models", "200 OK"), ("/decoders/nosuch", "404 Not Found")):
            assert re.search(stamp + rf'INFO 127\.0\.0\.1:\d+ - "GET {path} HTTP/1\.1" {status}$', log, re.M), log
        probes = [p for p in ("/metrics", "/health", "/ready") if f'"GET {p} HTTP/1.1"' in log]
        assert probes == ([] if level == "info" else ["/metrics", "/health", "/ready"]), (level, log)


def test_a_lost_stream_without_source_id_is_not_said_to_have_gone_before_its_inlet_opened(models_dir: Path,
                                                                                          tmp_path: Path) -> None:
    """Audit s42 (amplifiers): after a sender without a source_id fell silent and then ended, the log said three times
    that the stream 'went away before its inlet opened', of a stream decoded for seconds: the source watch's entries
    of the lost instance, cached while it was silent but still there. Those are now debug lines; the loss is said."""
    name = unique("s42-nosid")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, "float32", ""))
    with serve_process(_env(tmp_path), "--models-dir", str(models_dir)) as (proc, lines):
        with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"stall_timeout_s": 0.5}})
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            wait_status(client, did, lambda s: s["state"] == "running", 60, "running")
            x = np.zeros((10, len(TINY_CH_NAMES)), dtype=np.float32)
            for _ in range(50):  # 1 s of data
                outlet.push_chunk(x)
                time.sleep(0.02)
            wait_status(client, did, lambda s: s["state"] == "stalled", 30, "the silence")  # the outlet still there
            time.sleep(1.0)  # the source watch has seen it
            del outlet  # then the sender ends: no source_id, so liblsl cannot recover it
            wait_status(client, did, lambda s: (s["stall"] or {}).get("kind") == "lost", 60, "the loss")
            time.sleep(3.0)  # the looks after the loss (every 0.25-4 s), where the cached entries answered
    log = "\n".join(lines)
    assert f"decoder {did}: stream lost; waiting for it to come back" in log, log
    assert "went away before its inlet opened" not in log, log
