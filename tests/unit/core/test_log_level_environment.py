"""The service's log level travels with its settings, never through this process's environment: set there by an
in-process service (``evaluate --live``'s, under a test runner), it silenced the INFO lines, ``Uvicorn running on``
included, of every later ``serve`` started from that process (audit s61train F12, rehearsal of 6fb9c9d)."""

from __future__ import annotations

import logging
import os

from bci_stream.core.log_setup import ENV, configure_service, level_of


def test_configuring_the_service_leaves_the_environment_as_it_was(monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    logger = logging.getLogger("bci_stream")
    level, handlers, propagate = logger.level, list(logger.handlers), logger.propagate
    try:
        configure_service("warning")
        assert ENV not in os.environ and logger.level == logging.WARNING
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def test_a_worker_without_a_level_takes_the_environments_else_info() -> None:
    assert level_of({}) == logging.INFO and level_of({ENV: "Warning"}) == logging.WARNING
    assert level_of({ENV: "loud"}) == logging.INFO
