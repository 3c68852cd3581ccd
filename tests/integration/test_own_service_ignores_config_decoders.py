"""``evaluate --live`` and ``demo`` run a service of their own: the deployment's config file (``BCI_STREAM_CONFIG``)
may list the lab's decoders (``[[decoders]]``), and those are not started in it (audit s66cli F8: before, both started
them, a second copy of each on the lab's live streams, decoded outlets of the same names, recordings written). A real
LSL stream such a decoder would decode (watched for any consumer), the real CLI, the real in-process service."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pylsl
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info
from support.common import REPO, SUBSET_R06, subset_file, unique

pytestmark = pytest.mark.timeout(240)


class Watched:
    """A live stream with ``model``'s channels and rate (never pushed to), and whether anything subscribed to it."""

    def __init__(self, model: str) -> None:
        card = ModelRegistry(REPO / "models").get(model).card
        self.name = unique("lab-amp")
        self.outlet = pylsl.StreamOutlet(make_stream_info(self.name, "EEG", card.ch_names, card.sfreq,
                                                          f"{self.name}-src"))
        self.subscribed, self.halt = False, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.halt.wait(0.02):
            self.subscribed = self.subscribed or self.outlet.have_consumers()

    def stop(self) -> bool:
        self.halt.set()
        self.thread.join(5)
        return self.subscribed


def lab_config(tmp_path: Path, stream: str, model: str) -> Path:
    """A deployment's config file: one decoder of ``model`` on ``stream``, recording it."""
    config = tmp_path / "lab.toml"
    config.write_text(f'recordings_dir = "{tmp_path / "rec"}"\n\n'
                      '[[decoders]]\n'
                      f'model = "{model}"\n'
                      f'stream = {{ name = "{stream}" }}\n'
                      'options = { record_path = "lab.xdf" }\n', encoding="utf-8")
    return config


def test_evaluate_live_starts_none_of_the_config_files_decoders(tmp_path, monkeypatch):
    from bci_stream.io import load_recording
    from support.session_xdf import crop, service_session

    watched = Watched("eegmmidb-s001-gru")
    monkeypatch.setenv("BCI_STREAM_CONFIG", str(lab_config(tmp_path, watched.name, "eegmmidb-s001-gru")))
    monkeypatch.setenv("BCI_STREAM_MODELS_DIR", str(REPO / "models"))
    rec = crop(load_recording(subset_file(SUBSET_R06)), 20.0)
    path = service_session(tmp_path / "run.xdf", rec, rec.ch_names)
    try:
        res = CliRunner().invoke(main, ["evaluate", "eegmmidb-s001-gru", "--data", str(path), "--live", "--speed",
                                        "8", "--no-progress"], catch_exceptions=False)
    finally:
        subscribed = watched.stop()
    assert res.exit_code == 0, res.output
    assert not subscribed, "a decoder of the config file was started on the lab's stream"
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").rglob("*.xdf"))


def test_the_demo_starts_none_of_the_config_files_decoders(tmp_path):
    watched = Watched("sim-mi-gru")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCI_STREAM_") or k == "BCI_STREAM_DATA"}
    env["BCI_STREAM_CONFIG"] = str(lab_config(tmp_path, watched.name, "sim-mi-gru"))
    bci_stream = Path(sys.executable).with_name("bci-stream")
    try:
        proc = subprocess.run([str(bci_stream), "demo", "--duration", "1", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=180, cwd=REPO, env=env)
    finally:
        subscribed = watched.stop()
    assert proc.returncode == 0, proc.stdout
    assert not subscribed, "a decoder of the config file was started on the lab's stream"
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").rglob("*.xdf"))
