"""Fixtures of the core tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture()
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No BCI_STREAM_* variables, and a working directory outside the checkout without a .env: only what the test
    sets counts."""
    for name in list(os.environ):
        if name.startswith("BCI_STREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
