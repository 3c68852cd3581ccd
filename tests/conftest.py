"""Shared fixtures: tiny real models exported with the real exporter, real LSL outlets, a real server."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from support.common import (
    REQUIRE_DATA_ENV,
    SHARED_DATA,
    TEST_DATA,
    TINY_CH_NAMES,
    TINY_SFREQ,
    data_required,
    export_tiny,
    unique,
)


def pytest_configure(config: pytest.Config) -> None:
    """Make Ctrl-C deliverable to the commands the tests start. A test run started in the background of a
    non-interactive shell (``make test &``) inherits SIGINT ignored, and so would every ``bci-stream`` process it
    starts (an ignored signal stays ignored across exec; Python then installs no KeyboardInterrupt handler):
    the tests that stop a command with Ctrl-C (``test_clean_exit``) would wait for it in vain."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Which real EEG this run reads: the subset in tests/data, and whether the full set is there."""
    full = "present" if SHARED_DATA.is_dir() else "absent: tests that need it skip"
    if data_required():
        full = "present" if SHARED_DATA.is_dir() else "absent: tests that need it FAIL"
        full += f" ({REQUIRE_DATA_ENV}=1)"
    return [f"real EEG: subset {TEST_DATA}; full set {SHARED_DATA} {full}"]


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

