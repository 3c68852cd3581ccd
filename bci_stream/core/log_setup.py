"""The service's log level (setting ``log_level``) in each of its processes.

``serve`` hands the level to uvicorn, to the API process's ``bci_stream`` loggers (:func:`configure_service`) and,
through the environment its workers inherit (``BCI_STREAM_LOG_LEVEL``), to every worker process
(:func:`configure_worker`). Before, only uvicorn's lines followed it: the workers logged at INFO whatever the
setting (``critical`` still printed ERROR lines and tracebacks), and the API process's own lines below WARNING never
appeared (``debug`` added nothing to go on).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

ENV = "BCI_STREAM_LOG_LEVEL"
#: the setting's levels (uvicorn's names; ``trace`` is uvicorn's level 5)
LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": 5}


def level_of(environ: Mapping[str, str] | None = None) -> int:
    """The level ``serve`` handed down (``BCI_STREAM_LOG_LEVEL``, any case), INFO without one or with a bad one (a
    worker started by a script of the user's)."""
    name = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    return LEVELS.get(name, logging.INFO)


def configure_worker(who: str, level: str | None = None) -> None:
    """A worker process's log: ``<time> <who> <LEVEL> <message>`` on stderr, at :func:`level_of`; ``level``: the
    service's, handed over by other means than the environment (a Ray actor's process is started by its node, not
    by the service), into this process's environment first."""
    if level is not None:
        os.environ[ENV] = level
    logging.basicConfig(level=level_of(), format=f"%(asctime)s {who} %(levelname)s %(message)s")


def configure_service(level: str) -> None:
    """The API process of ``serve``: its ``bci_stream`` loggers at ``level`` on stderr, and ``level`` in the
    environment its worker processes inherit."""
    os.environ[ENV] = level
    logger = logging.getLogger("bci_stream")
    logger.setLevel(LEVELS[level])
    if not any(getattr(h, "bci_stream", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s api %(levelname)s %(message)s"))
        handler.bci_stream = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


__all__ = ["ENV", "LEVELS", "configure_service", "configure_worker", "level_of"]
