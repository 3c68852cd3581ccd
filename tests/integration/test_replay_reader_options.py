"""A model trained with ``[data.reader] type_state = "StimulusType"`` (a P300 speller: cues ``"1"`` target, ``"0"``
non-target) is scored live on the markers ``bci-stream replay`` sends. Before, replay had no reader option: it sent
the file's ``StimulusCode`` runs (``"1"``: row 1 flashed, ``"0"``: the gap between flashes), the service scored those
as target/non-target, and nothing said so (audit D2). Now ``replay --type-state`` sends the events the trainer's
loader gives for that option (names and times, received by a real pylsl inlet), and the decoder's status
``scoring.note`` names the reader option and the replay flag that sends the same cues. Real subprocess replays,
real LSL on loopback, real uvicorn on 127.0.0.1; the BCI2000 file is written by tests/support/bci2000.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from support.bci2000 import speller
from support.common import unique
from support.http import wait_status

pytestmark = [pytest.mark.timeout(240)]
SPEED = 20.0
READER = {"type_state": "StimulusType"}
MARKER_MAP = {"1": "target", "0": "nontarget"}


def start_replay(path: Path, name: str, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bci_stream", "replay", str(path), "--name", name, "--speed",
                             str(SPEED), "--wait-for-consumer", "60", "--linger", "10", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_replay_type_state_sends_the_events_the_trainer_reads(tmp_path: Path) -> None:
    from bci_stream.train.data_checks import load_with_options

    path = speller(tmp_path / "speller.dat")
    (rec,) = load_with_options([path], None, None, None, dict(READER))  # as train reads it
    want = [(e.description, e.onset) for e in rec.events]
    assert {d for d, _ in want} == {"0", "1"} and len(want) == 25
    name = unique("replay-ts")
    proc = start_replay(path, name, "--type-state", "StimulusType")
    try:
        markers = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-markers", 1, 60)[0])
        markers.open_stream(30)
        data = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 60)[0])
        data.open_stream(30)  # the replay starts once its data has a consumer
        got: list[tuple[str, float]] = []
        stamps: list[float] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(stamps) < rec.n_times or len(got) < len(want)):
            _, ts = data.pull_chunk(timeout=0.0, max_samples=4096)
            stamps += ts
            chunk, mts = markers.pull_chunk(timeout=0.05)
            got += [(m[0], t) for m, t in zip(chunk, mts)]
        data.close_stream()
        markers.close_stream()
        out = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"{len(want)} events on '{name}-markers'" in out, out
    assert len(stamps) == rec.n_times
    # sample k is stamped t0 + k / (sfreq * speed), and so is an event at sample k
    onsets = [(t - stamps[0]) * rec.sfreq * SPEED for _, t in got]
    assert [d for d, _ in got] == [d for d, _ in want]
    np.testing.assert_allclose(onsets, [k for _, k in want], atol=1e-3)


@pytest.fixture()
def p300_models(tmp_path: Path) -> Path:
    """A CSP+LDA model on the file's two channels whose card says it was trained with ``type_state``."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    params = CspLdaParams(ch_names=["Fz", "Cz"], sfreq=128.0, preprocessing=PreprocessingConfig(), filters=np.eye(2),
                          tau_s=0.1, power_init=np.ones(2), coef=np.array([[1.0, -1.0], [-1.0, 1.0]]),
                          intercept=np.zeros(2), labels=["target", "nontarget"])
    export_csp_lda(params, tmp_path / "models" / "p300", name="p300", version="1.0.0",
                   training={"label_map": MARKER_MAP, "config": {"data": {"reader": dict(READER)}}},
                   scoring={"marker_map": MARKER_MAP, "decision_time_s": 0.2})
    return tmp_path / "models"


def test_the_decoder_status_says_how_the_cues_were_read(p300_models: Path, tmp_path: Path) -> None:
    from bci_stream.api.server import BackgroundServer
    from bci_stream.core.settings import Settings

    path = speller(tmp_path / "speller.dat")
    name = unique("replay-note")
    settings = Settings(host="127.0.0.1", port=0, models_dir=p300_models, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "p300"})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        proc = start_replay(path, name, "--type-state", "StimulusType")
        try:
            st = wait_status(client, decoder_id, lambda s: (s.get("scoring") or {}).get("trials") == 25, 120,
                             "the 25 flashes scored")
            out = proc.communicate(timeout=60)[0]
        finally:
            proc.kill()
        client.delete(f"/decoders/{decoder_id}")
    assert proc.returncode == 0, out
    sc = st["scoring"]
    assert sc["source"] == "card.scoring" and sc["markers_unmapped"] == 0
    assert sum(c["trials"] for c in sc["per_class"].values()) == 25 and sc["per_class"]["target"]["trials"] == 4
    assert sc["note"].startswith("this model's cues were read with type_state='StimulusType'; replay the file with "
                                 "--type-state StimulusType to send the same cues"), sc["note"]
