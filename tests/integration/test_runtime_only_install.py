"""The service as the container installs it: ``pip install .`` without extras, then serve and decode.

A fresh venv gets the package alone; torch, onnx, mne, matplotlib and scikit-learn must be absent; the
installed ``bci-stream serve`` decodes a live LSL stream with every model in ``models/`` and a Riemannian
model exported here (every decoder family: recurrent, CSP+LDA, tangent space, both combined, the average of
several, residual GRU on CSP+LDA): in == out, finite outputs,
and the state snapshot round-trips through ``GET``/``PUT /decoders/{id}/state``. A runtime module that
imports a training-only library fails this test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from bci_stream.core.registry import ModelRegistry
from support.bound_port import wait_bound_port
from support.common import REPO, unique

CONSTRAINTS = REPO / "deploy" / "constraints.txt"
EXTRAS = ("torch", "onnx", "mne", "matplotlib", "sklearn", "pyxdf", "ray")
N_SAMPLES = 800
SPEED = 16.0  # samples pushed this many times faster than the model's sfreq (800 of them fit any buffer)


def runtime_env(**extra: str) -> dict[str, str]:
    """The environment of a command of the runtime venv: none of this checkout's (PYTHONPATH, BCI_STREAM_*), and
    bytecode written: the venv is installed ``--no-compile``, so with PYTHONDONTWRITEBYTECODE (set on this project's
    test machines) every command, and every worker of a service, compiled each module it imports anew (~3 s of CPU
    per ``demo``)."""
    drop = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("BCI_STREAM_")} | extra


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A fresh venv (no system site-packages) and ``pip install -c deploy/constraints.txt .`` into it, as the
    container does.

    The venv is made ``--without-pip`` and this environment's pip installs into it (``pip --python VENV``: pip
    runs under the venv's interpreter, so what lands there is exactly what ``VENV/bin/pip install .`` installs);
    this skips ensurepip's own pip and setuptools, which the runtime does not need. ``--no-compile``: no
    bytecode for the ~30 dependencies up front (Python compiles what the service imports when it imports it).
    """
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
           "--disable-pip-version-check", "--no-compile"]
    proc = subprocess.run([*pip, "-c", str(CONSTRAINTS), str(REPO)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"pip install . failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return venv


def test_every_package_of_the_install_is_pinned_in_the_constraints(runtime_venv):
    """Audit s46 (reproducibility S11): every runtime dependency was ``>=``, so an install got whatever PyPI held that
    day. deploy/constraints.txt pins each package the runtime install holds; one it does not pin (a new dependency,
    or a new one of a dependency) fails here, as does a pin the install does not need."""
    def normal(name: str) -> str:
        return name.lower().replace("_", "-")

    pinned = {normal(line.split("==")[0]): line.split("==")[1] for line in CONSTRAINTS.read_text().splitlines()
              if line and not line.startswith("#")}
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(runtime_venv / "bin" / "python"), "freeze",
                           "--exclude", "bci-stream"], capture_output=True, text=True, check=True)
    installed = {normal(line.split("==")[0]): line.split("==")[1] for line in proc.stdout.splitlines() if "==" in line}
    assert installed == pinned, {"not pinned": sorted(set(installed) - set(pinned)),
                                 "not installed": sorted(set(pinned) - set(installed)),
                                 "other version": sorted(k for k in pinned.keys() & installed.keys()
                                                         if pinned[k] != installed[k])}


def test_the_bundled_models_come_with_the_install(runtime_venv, tmp_path):
    """Audit s46 (reproducibility D6): the wheel held no model, so outside a checkout ``bci-stream demo`` ended in
    "model 'sim-mi-gru' not found in ./models" and ``bci-stream models`` in "does not exist". Now the install holds
    the bundled models (``<venv>/share/bci-stream/models``): both work from a folder with no ``models/``."""
    bin_ = runtime_venv / "bin" / "bci-stream"
    shipped = runtime_venv / "share" / "bci-stream" / "models"
    env = runtime_env()
    listed = subprocess.run([str(bin_), "models"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    for folder in sorted(p for p in (REPO / "models").iterdir() if (p / "model.json").is_file()):
        card = ModelRegistry(REPO / "models").get(folder.name).card
        assert f"{card.ref} " in listed.stdout and f"sha256 {card.sha256[:12]}" in listed.stdout, listed.stdout
    assert f"the bundled models of this install, in {shipped}: read only" in listed.stderr, listed.stderr
    # --duration counts from the first decoded sample: any duration shows samples decoded (in == out > 0)
    demo = subprocess.run([str(bin_), "demo", "--duration", "0.5", "--port", "0"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=180, cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stdout[-3000:]
    m = re.search(r"stopped: (\d+) samples in, (\d+) decoded samples out", demo.stdout)
    assert m and int(m.group(1)) == int(m.group(2)) > 0, demo.stdout[-3000:]
    assert not (tmp_path / "models").exists()  # nothing written beside it
    # a ./models of one's own (the first calibrate without --out makes it) is the registry now; the demo's model is
    # not in it, so the demo runs the installed copy (review s49 F3: before, "model 'sim-mi-gru' not found")
    (tmp_path / "models").mkdir()
    again = subprocess.run([str(bin_), "demo", "--duration", "0.5", "--port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=180, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert (f"note: model 'sim-mi-gru' is not in {tmp_path / 'models'}: the demo runs the copy this install holds, "
            f"in {shipped}") in again.stdout, again.stdout[-3000:]


def test_no_training_library_is_installed(runtime_venv):
    probe = ("import importlib.util, json; "
             f"print(json.dumps([m for m in {list(EXTRAS)!r} if importlib.util.find_spec(m) is not None]))")
    out = subprocess.run([str(runtime_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                         check=True, cwd="/", env=runtime_env())
    assert json.loads(out.stdout) == []


def test_bench_on_the_runtime_install_says_which_extra_it_needs(runtime_venv):
    """deploy/README.md sends operators to ``bci-stream bench inference``; on the runtime install it ended in a
    ``ModuleNotFoundError: No module named 'torch'`` traceback. Now one line naming the extra (exit 2)."""
    proc = subprocess.run([str(runtime_venv / "bin" / "bci-stream"), "bench", "inference", "--quick"],
                          capture_output=True, text=True, timeout=120, cwd="/", env=runtime_env())
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "error: `bench inference` needs torch and matplotlib, which the runtime install" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "pip install '.[bench]'" in proc.stderr


@pytest.mark.parametrize("argv, needs, extra", [
    (["calibrate", "r1.edf", "--labels", "T1=a,T2=b", "--name", "x"], "calibrate needs sklearn, onnx, tqdm",
     "calibrate"),
    (["calibrate", "--no-progress", "r1.edf", "--labels", "T1=a,T2=b", "--name", "x"], "calibrate needs sklearn, onnx",
     "calibrate"),
    (["train", "run.toml"], "train needs torch, onnx, tqdm", "train"),
])
def test_training_commands_on_the_runtime_install_name_their_extra(runtime_venv, argv, needs, extra):
    """Audit s46 (reproducibility D3): on the runtime install ``calibrate`` ended in a ``No module named 'tqdm'``
    traceback (with ``--no-progress``, a message naming the 'data' extra, which lacks scikit-learn and onnx), and
    ``train`` in ``No module named 'torch'``. Now one line naming what is missing and the extra, exit 2."""
    proc = subprocess.run([str(runtime_venv / "bin" / "bci-stream"), *argv], capture_output=True, text=True,
                          timeout=120, cwd="/", env=runtime_env())
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert f"Error: {needs}, which the {extra!r} extra installs: pip install 'bci-stream[{extra}]'" in proc.stderr, \
        proc.stderr
    assert ("install torch==2.13.0 first" in proc.stderr) == (extra == "train"), proc.stderr  # calibrate: no torch
    assert "Traceback" not in proc.stderr


def test_inspect_on_the_runtime_install_writes_its_report_and_says_why_no_plot(runtime_venv, tmp_path):
    """``inspect --out`` wrote report.json, then ended in a ``No module named 'matplotlib'`` traceback (audit s46)."""
    out = tmp_path / "inspect"
    proc = subprocess.run([str(runtime_venv / "bin" / "bci-stream"), "inspect", str(REPO / "models" / "sim-mi-gru"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd="/",
                          env=runtime_env())
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert (out / "report.json").exists() and not (out / "time_constants.png").exists()
    assert "not time_constants.png: the plot needs matplotlib, which the 'train' or 'bench' extra installs" in \
        proc.stdout, proc.stdout


def test_backend_ray_without_ray_names_where_the_setting_came_from(runtime_venv):
    """Audit s45 (Ray F7): ``BCI_STREAM_BACKEND=ray`` on an install without Ray was answered "--backend ray needs
    Ray", a flag the user never gave."""
    env = runtime_env(BCI_STREAM_BACKEND="ray")
    proc = subprocess.run([str(runtime_venv / "bin" / "bci-stream"), "serve", "--port", "0"], capture_output=True,
                          text=True, timeout=120, cwd="/", env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.splitlines()[-1] == ("Error: backend 'ray' (environment variable BCI_STREAM_BACKEND) needs Ray: "
                                            "pip install '.[cluster]' (from the bci-stream checkout)"), proc.stderr


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """The bundled models, and a tangent-space model (random but valid parameters) exported here."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_riemann
    from bci_stream.train.classical.params import RiemannParams

    root = tmp_path_factory.mktemp("models")
    for d in (REPO / "models").iterdir():
        if (d / "model.json").is_file():
            (root / d.name).symlink_to(d, target_is_directory=True)
    rng = np.random.default_rng(0)
    n = 6
    a = rng.normal(size=(n, n))
    cov = a @ a.T + n * np.eye(n)
    w, v = np.linalg.eigh(cov)
    params = RiemannParams(
        ch_names=["FC3", "FC4", "C3", "Cz", "C4", "CP3"], sfreq=250.0,
        preprocessing=PreprocessingConfig(bandpass=(8.0, 30.0)), projection=None, tau_s=0.5, shrinkage=0.05,
        cov_init=cov, ref_isqrt=(v / np.sqrt(w)) @ v.T, coef=rng.normal(size=(2, n * (n + 1) // 2)),
        intercept=np.zeros(2), labels=["left", "right"])
    export_riemann(params, root / "rt-riemann", name="rt-riemann", version="1.0.0",
                   training={"data": "random parameters, test fixture"})
    from bci_stream.train.classical.export import export_csp_lda

    export_csp_lda(_random_csp(rng), root / "rt-csp-lda", name="rt-csp-lda", version="1.0.0",
                   training={"data": "random parameters, test fixture"})
    _export_random_csp_gru(root / "rt-csp-gru", rng)
    from bci_stream.train.classical.combined import CombinedParams
    from bci_stream.train.classical.combined_graph import export_csp_riemann

    export_csp_riemann(CombinedParams(csp=_random_csp(rng), riemann=params, ch_names=list(params.ch_names)),
                       root / "rt-csp-riemann", name="rt-csp-riemann", version="1.0.0",
                       training={"data": "random parameters, test fixture"})
    return root


def _random_csp(rng: np.random.Generator, m: int = 4, k: int = 2):
    """CSP+LDA parameters, random but valid."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.params import CspLdaParams

    return CspLdaParams(ch_names=["FC3", "FC4", "C3", "Cz", "C4", "CP3"], sfreq=250.0,
                        preprocessing=PreprocessingConfig(bandpass=(8.0, 30.0)), filters=rng.normal(size=(6, m)),
                        tau_s=0.5, power_init=np.full(m, 10.0), coef=rng.normal(size=(k, m)), intercept=np.zeros(k),
                        labels=["left", "right"])


def _export_random_csp_gru(out: Path, rng: np.random.Generator) -> None:
    """A residual GRU on CSP+LDA (family ``csp_gru``, what calibrate ships where CV says it wins), random
    but valid parameters, with a non-zero read-out so the GRU path is used."""
    from bci_stream.train.classical.residual_graph import export_csp_gru
    from bci_stream.train.classical.residual_ref import ResidualParams

    m, h, k = 4, 8, 2
    csp = _random_csp(rng, m, k)
    res = ResidualParams(csp=csp, in_mean=np.zeros(m), in_std=np.ones(m), w_ih=rng.normal(0, 0.3, (3 * h, m)),
                         w_hh=rng.normal(0, 0.3, (3 * h, h)), b_ih=np.zeros(3 * h), b_hh=np.zeros(3 * h),
                         out_weight=rng.normal(0, 0.5, (k, h)), out_bias=np.zeros(k))
    export_csp_gru(res, out, name="rt-csp-gru", version="1.0.0", training={"data": "random parameters, test fixture"})


def test_installed_service_decodes_every_bundled_model(runtime_venv, models_dir, tmp_path):
    models = ModelRegistry(models_dir).list()
    families = {e.card.architecture.family for e in models}
    assert {e.card.name for e in models} >= {"sim-mi-gru", "eegmmidb-s001"}, "the bundled models are missing"
    assert families == {"recurrent", "csp_lda", "riemann", "csp_riemann", "csp_gru", "ensemble"}
    env = runtime_env()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(runtime_venv / "bin" / "bci-stream"), "serve", "--host", "127.0.0.1", "--port",
                                 "0", "--models-dir", str(models_dir)], cwd=str(tmp_path), env=env,
                                stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        port = wait_bound_port(log_path.read_text, proc, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            for entry in models:
                _decode_live(client, entry.card)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    err = log_path.read_text()
    assert "Traceback" not in err, err[-3000:]
    from bci_stream.lsl.log_config import user_config

    if user_config(env, tmp_path) is None:  # `pip install .` ships the quiet liblsl config (package data)
        assert "INFO|" not in err, err[-3000:]


def _decode_live(client: httpx.Client, card) -> None:
    name = unique(f"rt-{card.name}")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", card.ch_names, card.sfreq, f"{name}-src"))
    r = client.post("/decoders", json={"stream": {"name": name}, "model": card.ref})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    _wait(client, decoder_id, lambda s: s["state"] == "running", 90, "running")
    inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-decoded", 1, 30.0)[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    x = np.random.default_rng(0).normal(0, 10, (N_SAMPLES, card.n_chans)).astype(np.float32)
    for i in range(0, N_SAMPLES, 10):  # at SPEED x the model's rate: what is checked is that every sample is decoded
        outlet.push_chunk(x[i:i + 10])
        time.sleep(10 / (SPEED * card.sfreq))
    got = []
    deadline = time.monotonic() + 60
    while len(got) < N_SAMPLES and time.monotonic() < deadline:
        chunk, _ = inlet.pull_chunk(timeout=0.5)
        got.extend(chunk)
    status = _wait(client, decoder_id, lambda s: s["counters"]["samples_in"] == N_SAMPLES, 60, "all samples in")
    assert status["counters"]["samples_out"] == N_SAMPLES and status["last_error"] is None
    y = np.asarray(got)
    assert y.shape == (N_SAMPLES, card.n_outputs) and np.isfinite(y).all()
    snap = client.get(f"/decoders/{decoder_id}/state").json()
    assert set(snap["arrays"]) == {s.name for s in card.step.states} and snap["seq"] == N_SAMPLES
    r = client.put(f"/decoders/{decoder_id}/state", json=snap)
    assert r.status_code == 200, r.text
    again = client.get(f"/decoders/{decoder_id}/state").json()
    for name, arr in snap["arrays"].items():
        np.testing.assert_array_equal(np.asarray(again["arrays"][name]), np.asarray(arr))
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    del outlet


def _wait(client: httpx.Client, decoder_id: str, cond, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        s = client.get(f"/decoders/{decoder_id}").json()
        if cond(s):
            return s
        assert s["state"] != "error", s.get("error")
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {s}"
        time.sleep(0.2)
