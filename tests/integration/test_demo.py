"""The README's main job: ``bci-stream demo`` with the bundled model on simulated EEG."""

from __future__ import annotations

import re

import numpy as np
import subprocess
import sys
from pathlib import Path
from support.common import REPO
from support.exit_lines import bad_lines



def test_bundled_model_is_valid_and_verifies():
    from bci_stream.core.registry import ModelRegistry

    entry = ModelRegistry(REPO / "models").get("sim-mi-gru")
    card = entry.card
    assert card.n_chans == 64 and card.sfreq == 160.0 and card.output.kind == "categorical"
    assert card.parity is not None and card.parity.max_abs_diff <= 1e-4 and card.parity.n_samples >= 1000


SFREQ = 160.0  # both demo models'
SIM_CHUNK = 5  # samples per push of the simulator at 160 Hz (run_simulator: round(sfreq / 32))
STATUS_LINE_S = 1.0  # the demo prints (and polls) a status line every second


def _demo(*args: str) -> tuple[str, int]:
    """Run ``bci-stream demo ARGS --port 0``; its output (stdout and stderr together) and the decoded samples its
    last line reports. It ends cleanly: exit code 0, no error line (liblsl's ERR/WARN, a traceback, a warning)."""
    bci_stream = Path(sys.executable).with_name("bci-stream")
    proc = subprocess.run([str(bci_stream), "demo", *args, "--port", "0"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=180, cwd=REPO)
    out = proc.stdout
    assert proc.returncode == 0, out
    m = re.search(r"stopped: (\d+) samples in, (\d+) decoded samples out", out)
    assert m, out
    n_in, n_out = int(m.group(1)), int(m.group(2))
    assert n_out > 0 and n_in == n_out, out
    assert bad_lines(out) == [], out
    return out, n_out


def test_demo_runs_and_decodes():
    """--duration counts decoded signal from the first decoded sample, and the demo stops within about one status
    line of it (before the fix `--duration 20` decoded 3420 samples, 21.4 s, and `--duration 12` 13.7 s)."""
    duration = 6
    out, n_out = _demo("--duration", str(duration))
    assert out.count("running") >= 5
    times = [float(s) for s in re.findall(r"^\[\s*([\d.]+) s\]", out, re.M)]  # one status line a second: the
    assert times == sorted(set(times)), out  # seconds the marker resolve took were printed at once (audit s70sim F5)
    assert n_out <= (duration + STATUS_LINE_S) * SFREQ + SIM_CHUNK, (n_out, out)


def test_demo_streams_the_model_channel_names():
    """`demo --model eegmmidb-s001-gru`: a 21-channel model with EEGMMIDB names ('Fc5.', 'C3..'); the simulator
    streams the card's names, so the decoder finds every channel (before the fix it streamed its own first 21
    names and the decoder refused 5 of them)."""
    duration = 3
    out, n_out = _demo("--duration", str(duration), "--model", "eegmmidb-s001-gru")
    assert "(21 ch, 160 Hz), model eegmmidb-s001-gru@" in out and "note:" not in out
    assert n_out <= (duration + STATUS_LINE_S) * SFREQ + SIM_CHUNK, (n_out, out)


def _cli() -> str:
    return str(Path(sys.executable).with_name("bci-stream"))


def test_simulate_command_streams_labelled_eeg_and_markers():
    import uuid

    import pylsl

    from bci_stream.lsl.info import read_ch_names

    name = f"cli-sim-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([_cli(), "simulate", "--name", name, "--n-chans", "8", "--sfreq", "250",
                             "--duration", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 20.0)
        assert found, "simulated stream not found"
        inlet = pylsl.StreamInlet(found[0])
        info = inlet.info(timeout=5.0)
        assert (info.type(), info.channel_count(), info.nominal_srate()) == ("EEG", 8, 250.0)
        labels = read_ch_names(info)
        assert labels is not None and {"C3", "C4", "Cz"} <= set(labels)
        assert pylsl.resolve_bypred(f"name='{name}-markers'", 1, 5.0), "marker stream not found"
        x, ts = inlet.pull_chunk(timeout=2.0, max_samples=100, min_samples=50, as_numpy=True)
        assert len(ts) >= 50 and np.isfinite(x).all()
    finally:
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"streaming '{name}' (8 ch, 250 Hz" in out and "pushed" in out


def test_serve_command_answers_and_shuts_down_on_sigterm():
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([_cli(), "serve", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        models = httpx.get(f"http://127.0.0.1:{port}/models", timeout=5.0).json()["models"]
        assert "sim-mi-gru" in {m["name"] for m in models}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully (lifespan: decoders stopped); serve then exits 0 as after Ctrl-C
    assert "Application shutdown complete" in err
    assert proc.returncode == 0, err


def test_duration_stop_counts_decoded_samples_from_the_first():
    """The rule the demo stops by: enough decoded samples, or the deadline dated from the first decoded sample
    (``seen`` samples already decoded at the first status that showed any)."""
    from bci_stream.demo import DurationStop

    stop = DurationStop(duration=20, sfreq=SFREQ, seen=80, now=100.0)  # first sample 0.5 s before t=100
    assert stop.target == 3200 and stop.deadline == 119.5
    assert not stop.reached(3199, 110.0) and stop.reached(3200, 110.0)  # by samples
    assert not stop.reached(100, 119.4) and stop.reached(100, 119.5)    # by the clock (a stalled decoder)
