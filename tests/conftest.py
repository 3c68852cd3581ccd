"""Shared fixtures: tiny real models exported with the real exporter, real LSL outlets, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from support.common import TINY_CH_NAMES, TINY_SFREQ, export_tiny, unique


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    export_tiny(root, "tiny-gru", "gru")
    export_tiny(root, "tiny-lstm", "lstm", seed=1)
    return root


@pytest.fixture()
def eeg_outlet() -> Iterator[tuple[pylsl.StreamOutlet, pylsl.StreamInfo]]:
    """A fresh 8-channel 500 Hz EEG outlet with channel labels, under a unique name."""
    name = unique("eeg")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src")
    outlet = pylsl.StreamOutlet(info)
    yield outlet, info
    del outlet

