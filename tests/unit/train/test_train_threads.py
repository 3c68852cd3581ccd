"""Threads per training process: ``training.threads``; else, in one process, ``OMP_NUM_THREADS`` when set (audit
s61train F7: before, every core, whatever the user had limited); else the cores divided among the processes."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")

from bci_stream.train.run import _threads  # noqa: E402


def config(threads: int | None) -> SimpleNamespace:
    return SimpleNamespace(training=SimpleNamespace(threads=threads))


@pytest.mark.parametrize(("threads", "env", "world", "expected"), [
    (None, "1", 1, 1),
    (None, "3", 1, 3),
    (5, "1", 1, 5),  # the config's key first
    (None, None, 1, os.cpu_count() or 1),
    (None, "", 1, os.cpu_count() or 1),
    (None, "abc", 1, os.cpu_count() or 1),
    (None, "1", 2, max(1, (os.cpu_count() or 1) // 2)),  # torchrun's processes: the cores divided
])
def test_threads(monkeypatch, threads, env, world, expected):
    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert _threads(config(threads), SimpleNamespace(world_size=world)) == expected
