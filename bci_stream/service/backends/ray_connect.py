"""Connecting this process to a Ray cluster (the ``ray`` backend's driver) in a bounded time, refused in one line.

:func:`~bci_stream.service.backends.ray_backend.connect_ray` connects; ``serve --backend ray`` calls it before the HTTP
server starts (so a refusal is one ``Error:`` line, exit 2, not a traceback from the server's startup), and
:class:`~bci_stream.service.backends.ray_backend.RayBackend` then uses that connection. This module holds the parts
that need no Ray (``import ray`` stays in ``ray_backend``'s functions): the address checks and the bounded start.

Three ways an address fails, each a :class:`~bci_stream.core.errors.PlacementError` naming the address:

* nothing takes a TCP connection there (:func:`check_reachable`, at once: Ray's own client retries for minutes);
* ``ray.init`` raises (a version mismatch, a cluster that refuses us): Ray's own reason, on one line;
* ``ray.init`` does not return within the timeout (``start_timeout``, setting ``ray_start_timeout``, env
  ``BCI_STREAM_RAY_START_TIMEOUT``): no Ray cluster answered in that time. Either something takes TCP connections
  there but is not a Ray GCS (another service's port), where Ray retries for many minutes (Ray 2.60: 20 tries of
  about 40 s each) and ignores Ctrl-C; or it is a Ray cluster too slow to answer (a busy head): raise the timeout.
  ``ray.init`` cannot be cancelled: it runs on a daemon thread, which is left behind; the process should exit
  (``serve`` does). Until that thread ends, another connect in this process is refused (two ``ray.init`` at once
  would race).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Listener
from typing import Any, Callable

from bci_stream.core.errors import PlacementError

#: The ``ray.init`` thread a timeout left running (it cannot be cancelled), and the address it was given.
_LEFT_BEHIND: tuple[threading.Thread, str | None] | None = None


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """PlacementError at once when ``address`` (``host:port`` or ``ray://host:port``) takes no TCP connection: Ray's
    own client retries such an address for many minutes."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise PlacementError(f"backend 'ray': nothing answers at ray_address={address!r} ({exc}); give the address of "
                             "a running Ray head (`ray start --head` prints it)") from None


class kept_signal_handlers:
    """Restore the SIGTERM and SIGINT handlers on exit (``ray.init`` or a Ray head started in the main thread
    replaces SIGTERM's with a ``sys.exit``, which skipped uvicorn's shutdown: decoders stopped, then the server).
    Only in the main thread (signals live there)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        self.saved = {sig: signal.getsignal(sig) for sig in self.SIGNALS} if main else {}

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


class _NoSigtermWarning(logging.Filter):
    """Drops Ray's warning that it set no SIGTERM handler (``ray.init`` off the main thread): on purpose, ours stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SIGTERM handler is not set")


def start_bounded(init: Callable[[], object], address: str | None, timeout: float) -> None:
    """Run ``init`` (``ray.init`` for ``address``; None: ``RAY_ADDRESS``, else a cluster on this host) after
    :func:`check_reachable`, on a daemon thread given ``timeout`` seconds (see the module docstring).

    Raises
    ------
    PlacementError
        Naming ``address`` and why: nothing answers there, Ray's own error (on one line), no answer as a Ray
        cluster within ``timeout`` s, or the ``ray.init`` of an earlier such timeout still running in this process.
    """
    global _LEFT_BEHIND
    if _LEFT_BEHIND is not None and _LEFT_BEHIND[0].is_alive():
        raise PlacementError(f"backend 'ray': the ray.init of an earlier connect (ray_address={_LEFT_BEHIND[1]!r}) "
                             "that timed out is still running in this process, and cannot be cancelled: two at once "
                             "would race; restart the process to connect anew")
    check_reachable(address or os.environ.get("RAY_ADDRESS"))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            init()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    quiet = _NoSigtermWarning()
    worker_log = logging.getLogger("ray._private.worker")
    worker_log.addFilter(quiet)
    try:
        with kept_signal_handlers():
            thread = threading.Thread(target=run, name="bci-stream-ray-init", daemon=True)
            thread.start()
            thread.join(timeout)
    finally:
        worker_log.removeFilter(quiet)
    where = f"ray_address={address!r}" + ("" if address else f" (RAY_ADDRESS={os.environ.get('RAY_ADDRESS')!r}, "
                                                             "else a cluster on this host)")
    if thread.is_alive():
        _LEFT_BEHIND = (thread, address)
        raise PlacementError(f"backend 'ray': ray.init did not connect to {where} within {timeout:g} s "
                             "(ray_start_timeout, BCI_STREAM_RAY_START_TIMEOUT): it does not answer as a Ray cluster's "
                             "GCS in that time: not a Ray GCS port (give the address `ray start --head` prints), or a "
                             "cluster too slow to answer (raise ray_start_timeout, BCI_STREAM_RAY_START_TIMEOUT)")
    if (exc := outcome.get("error")) is not None:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # Ray's messages span lines (a version mismatch)
        hint = (" (no Ray cluster there, or it refused us: a cluster with token authentication, see deploy/RAY.md; "
                "start one with `ray start --head`)" if isinstance(exc, ConnectionError) else "")
        raise PlacementError(f"backend 'ray': ray.init could not connect to {where}: {reason[:600]}{hint}")


def accept_workers(listener: Listener, closing: threading.Event, arrive: Callable[[str, str, Any], None],
                   hello_timeout: float) -> None:
    """Accept the connections the workers open back to the service (each introduced by ``(token, role)``) until
    ``closing`` is set, handing each to ``arrive(token, role, conn)``. A peer that is not one of ours (a port scan,
    a health check, a stale worker of another serve: it fails the authentication, closes mid-handshake or says no
    hello within ``hello_timeout`` s) is dropped, and the loop goes on: one stray peer must not stop every later
    worker from connecting back."""
    while not closing.is_set():
        try:
            conn = listener.accept()
        except (OSError, EOFError, AuthenticationError):  # closed at shutdown, or a stray peer's handshake failed
            if closing.is_set():
                return
            continue
        try:
            if not conn.poll(hello_timeout):
                raise ValueError("no hello")
            token, role = conn.recv()
        except Exception:  # noqa: BLE001 - a stray or broken peer: drop it
            conn.close()
            continue
        arrive(str(token), str(role), conn)
