"""Fixtures of the fault suite: a model folder with a few extra models, and a real server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import AUTH, HD_CH_NAMES, HD_SFREQ, export_model_for, make_settings


@pytest.fixture(scope="session")
def fault_models(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny 8-channel 500 Hz models, plus ``tiny-gru-b`` (other weights, same outputs: a swap target)."""
    root = tmp_path_factory.mktemp("fault-models")
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    export_model_for(root, "tiny-gru-b", seed=7, hidden_size=24)
    return root


@pytest.fixture(scope="session")
def hd_model(fault_models: Path) -> str:
    """``hd-gru``: 64 channels at 1 kHz (the backlog test), in :func:`fault_models`."""
    export_model_for(fault_models, "hd-gru", ch_names=HD_CH_NAMES, sfreq=HD_SFREQ, seed=3, n_layers=1)
    return "hd-gru"


@pytest.fixture(scope="session")
def wide_model(fault_models: Path) -> str:
    """``wide-gru``: 8 channels at 500 Hz and 64 continuous outputs (big output rows: the slow-consumer test)."""
    export_model_for(fault_models, "wide-gru", head="gaussian", n_outputs=64, seed=4, n_layers=1)
    return "wide-gru"


@pytest.fixture(scope="module")
def server(fault_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """A real uvicorn server on 127.0.0.1 (port 0) with a token; modules needing other settings override it."""
    with BackgroundServer(make_settings(fault_models, tmp_path_factory.mktemp("recordings"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0, headers=AUTH) as c:
        yield c
