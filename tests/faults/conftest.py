"""Fixtures of the fault suite: a model folder with a few extra models, a real server per module, and the worker
kind of the faults that test isolation.

The suite's decoders run in the service's default worker kind (``BCI_STREAM_WORKER``, else
:data:`bci_stream.core.spec.DEFAULT_WORKER`); the faults that test isolation (a vanished source, non-finite
bursts, a wrong or changed stream, bad models at a hot swap, ``kill -9`` of a worker) take :func:`worker_kind`
and run once per kind, so ``make test`` covers both dedicated and shared workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import AUTH, HD_CH_NAMES, HD_SFREQ, WORKER_KINDS, export_model_for, make_settings
from support.common import TINY_CH_NAMES
from support.run_cache import built_once


@pytest.fixture(scope="session")
def fault_models(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny 8-channel 500 Hz models, plus ``tiny-gru-b`` (other weights, same outputs: a swap target)."""
    root = tmp_path_factory.mktemp("fault-models")
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    add_built_once(root, tmp_path_factory, "tiny-gru-b", seed=7, hidden_size=24)
    return root


def add_built_once(root: Path, tmp_path_factory: pytest.TempPathFactory, name: str, **kw: object) -> None:
    """``export_model_for(root, name, **kw)``, the export done once per run (the same ``name``, the same ``kw``)."""
    built = built_once(tmp_path_factory, f"fault-{name}", lambda d: export_model_for(d, name, **kw))
    (root / name).symlink_to(built / name, target_is_directory=True)


@pytest.fixture(scope="session")
def hd_model(fault_models: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``hd-gru``: 64 channels at 1 kHz (the backlog test), in :func:`fault_models`."""
    add_built_once(fault_models, tmp_path_factory, "hd-gru", ch_names=HD_CH_NAMES, sfreq=HD_SFREQ, seed=3,
                   n_layers=1)
    return "hd-gru"


@pytest.fixture(scope="session")
def half_model(fault_models: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``half-gru``: the first 4 of the tiny channels at 500 Hz (a swap target reading fewer channels)."""
    add_built_once(fault_models, tmp_path_factory, "half-gru", ch_names=TINY_CH_NAMES[:4], seed=5, n_layers=1)
    return "half-gru"


@pytest.fixture(scope="session")
def wide_model(fault_models: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``wide-gru``: 8 channels at 500 Hz and 64 continuous outputs (big output rows: the slow-consumer test)."""
    add_built_once(fault_models, tmp_path_factory, "wide-gru", head="gaussian", n_outputs=64, seed=4, n_layers=1)
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


@pytest.fixture(params=WORKER_KINDS)
def worker_kind(request: pytest.FixtureRequest) -> str:
    """The worker kind the test's decoders ask for (``options.worker``), one run per kind."""
    return request.param
