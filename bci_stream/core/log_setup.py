"""The service's log level (setting ``log_level``) in each of its processes.

``serve`` hands the level to uvicorn, to the API process's ``bci_stream`` loggers (:func:`configure_service`) and,
with each worker's start arguments (the supervisor's ``log_level``), to every worker process
(:func:`configure_worker`). Before, only uvicorn's lines followed it: the workers logged at INFO whatever the
setting (``critical`` still printed ERROR lines and tracebacks), and the API process's own lines below WARNING never
appeared (``debug`` added nothing to go on). The level never goes through this process's environment: set there by an
in-process service (``evaluate --live``'s), it held for every later service of that process (audit s61train F12).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping

ENV = "BCI_STREAM_LOG_LEVEL"
#: the setting's levels (uvicorn's names; ``trace`` is uvicorn's level 5)
LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": 5}
#: paths whose successful requests the access log leaves out at ``info`` and above: a Prometheus scrape every few
#: seconds and a container's HEALTHCHECK filled it (audit s41, ops); ``debug`` shows them
PROBES = ("/metrics", "/health", "/ready")
#: one format for every line of the API process: uvicorn's, the service's (:func:`configure_service`)
API_FORMAT = "%(asctime)s api %(levelname)s %(message)s"


def level_of(environ: Mapping[str, str] | None = None) -> int:
    """The level ``serve`` handed down (``BCI_STREAM_LOG_LEVEL``, any case), INFO without one or with a bad one (a
    worker started by a script of the user's)."""
    name = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    return LEVELS.get(name, logging.INFO)


def configure_worker(who: str, level: str | None = None) -> None:
    """A worker process's log: ``<time> <who> <LEVEL> <message>`` on stderr, at ``level`` (the service's, any case;
    None: :func:`level_of`, a worker started by a script of the user's)."""
    logging.basicConfig(level=level_of({ENV: level}) if level else level_of(),
                        format=f"%(asctime)s {who} %(levelname)s %(message)s")


def configure_service(level: str) -> None:
    """The API process of ``serve``: its ``bci_stream`` loggers at ``level`` on stderr (its workers get ``level``
    from the supervisor)."""
    logger = logging.getLogger("bci_stream")
    logger.setLevel(LEVELS[level])
    if not any(getattr(h, "bci_stream", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(API_FORMAT))
        handler.bci_stream = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


class ProbeFilter(logging.Filter):
    """Leave out uvicorn's access lines of a probe (:data:`PROBES`) answered below 400 (a failing one is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # uvicorn's access record: (client_addr, method, full_path, http_version, status_code)
        if isinstance(args, tuple) and len(args) == 5:
            path = str(args[2]).split("?", 1)[0]
            return not (path in PROBES and isinstance(args[4], int) and args[4] < 400)
        return True


def uvicorn_log_config(level: str) -> dict:
    """uvicorn's logging config with the service's line format (before: uvicorn's ``INFO:     ...`` beside the
    service's ``<time> api INFO ...``) and, below ``debug``, the probes' access lines left out."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["default"].update(fmt=API_FORMAT, use_colors=False)
    config["formatters"]["access"].update(
        fmt=API_FORMAT.replace("%(message)s", '%(client_addr)s - "%(request_line)s" %(status_code)s'),
        use_colors=False)
    if LEVELS[level] > logging.DEBUG:
        config["filters"] = {"probes": {"()": ProbeFilter}}
        config["handlers"]["access"]["filters"] = ["probes"]
    return config


__all__ = ["API_FORMAT", "ENV", "LEVELS", "PROBES", "ProbeFilter", "configure_service", "configure_worker",
           "level_of", "uvicorn_log_config"]
