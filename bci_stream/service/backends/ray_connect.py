"""Connecting this process to a Ray cluster (the ``ray`` backend's driver) in a bounded time, refused in one line.

:func:`~bci_stream.service.backends.ray_backend.connect_ray` connects; ``serve --backend ray`` calls it before the HTTP
server starts (so a refusal is one ``Error:`` line, exit 2, not a traceback from the server's startup), and
:class:`~bci_stream.service.backends.ray_backend.RayBackend` then uses that connection. This module holds the parts
that need no Ray (``import ray`` stays in ``ray_backend``'s functions): the address checks, the bounded start, and
the loop that accepts the workers' connections back (:func:`accept_workers`).

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

import contextlib
import logging
import os
import signal
import socket
import threading
from multiprocessing.connection import Connection, Listener, answer_challenge, deliver_challenge
from typing import Any, Callable

from bci_stream.core.errors import PlacementError

#: The ``ray.init`` thread a timeout left running (it cannot be cancelled), and the address it was given.
_LEFT_BEHIND: tuple[threading.Thread, str | None] | None = None


def listen_problem(host: str | None) -> str | None:
    """Why the ray backend cannot listen on ``host`` (setting ``ray_listen_host``) for its workers' connections back,
    or None when it can (or when ``host`` is None: the address Ray uses for this node)."""
    if host is None:
        return None
    try:
        Listener((host, 0)).close()
    except OSError as exc:
        return f"cannot listen on it ({exc})"
    return None


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """PlacementError at once when ``address`` (``host:port`` or ``ray://host:port``) takes no TCP connection: Ray's
    own client retries such an address for many minutes."""
    if not address or address == "auto":
        return
    if "://" in address and not address.startswith("ray://"):  # (before: "Name or service not known", s70ray F7)
        raise PlacementError(f"backend 'ray': ray_address={address!r} must be host:port (or ray://host:port for Ray "
                             "Client), without another scheme: e.g. 127.0.0.1:6379, as `ray start --head` prints it")
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if colon and (not host or not port.isdigit()):  # (before: Ray's own traceback, or another address named)
        raise PlacementError(f"backend 'ray': ray_address={address!r} must be host:port with a host and a port "
                             "number, e.g. 127.0.0.1:6379 (`ray start --head` prints it)")
    if not colon:
        return
    if not 1 <= int(port) <= 65535:  # (before: getaddrinfo wrapped it, "Connection refused" or another port tried)
        raise PlacementError(f"backend 'ray': ray_address={address!r}: its port must be 1-65535, got {port}")
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
                   hello_timeout: float, authkey: bytes) -> None:
    """Accept the connections the workers open back to the service until ``closing`` is set, handing each to
    ``arrive(token, role, conn)`` once it has proved ``authkey`` and said ``(token, role)``.

    ``listener`` must have no authkey of its own: its ``accept()`` would run the handshake itself, with a read that
    has no timeout, so one peer that connects and says nothing (a node that died mid-handshake, a probe, ``nc``)
    would hold this loop and every later worker would fail to connect back. Here ``accept()`` only takes the TCP
    connection, and each peer's handshake and hello run on a short thread of their own (:func:`_greet`): a peer that
    is not one of ours (a port scan, garbage bytes, a stale worker of another serve with another key) or that has
    not said its hello within ``hello_timeout`` s is hung up on, and holds nothing else meanwhile.
    :func:`stop_accepting` ends the loop."""
    while not closing.is_set():
        try:
            conn = listener.accept()
        except OSError:  # closed at shutdown, or out of file descriptors: wait a little, not a busy loop
            if closing.wait(0.1):
                return
            continue
        if closing.is_set():  # the wake-up connection of stop_accepting, or a peer just before it
            conn.close()
            return
        threading.Thread(target=_greet, args=(conn, authkey, closing, arrive, hello_timeout),
                         name="bci-stream-ray-hello", daemon=True).start()


def _greet(conn: Connection, authkey: bytes, closing: threading.Event, arrive: Callable[[str, str, Any], None],
           hello_timeout: float) -> None:
    """Authenticate one peer (the handshake ``Listener.accept`` runs with an authkey, which the workers'
    ``Client(address, authkey=...)`` answers) and read its ``(token, role)``; ``arrive`` it, or close it. A timer
    shuts the socket down after ``hello_timeout`` s, which wakes a read blocked on a silent peer (EOF)."""
    guard = threading.Lock()
    state = {"open": True, "cut": False}

    def cut() -> None:
        with guard:  # never once the connection is closed or handed over: its fd number may be reused by then
            if state["open"]:
                state["cut"] = True
                with contextlib.suppress(OSError), socket.socket(fileno=os.dup(conn.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(hello_timeout, cut)
    timer.daemon = True
    timer.start()
    hello: Any = None
    try:
        deliver_challenge(conn, authkey)
        answer_challenge(conn, authkey)
        hello = conn.recv()
    except Exception:  # noqa: BLE001 - a stray or broken peer (wrong key, garbage, EOF, cut): dropped below
        pass
    with guard:
        state["open"] = False
    timer.cancel()
    if state["cut"] or closing.is_set() or not (isinstance(hello, tuple) and len(hello) == 2):
        conn.close()
        return
    token, role = hello
    arrive(str(token), str(role), conn)


def stop_accepting(listener: Listener, closing: threading.Event, acceptor: threading.Thread,
                   timeout: float = 2.0) -> None:
    """End :func:`accept_workers` running on ``acceptor``: set ``closing``, connect once to ``listener`` to wake its
    blocked ``accept()`` (closing a listening socket does not), close it and wait up to ``timeout`` s for the
    thread. Handshakes under way end within their ``hello_timeout``; a worker greeted after this is closed."""
    closing.set()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: the listener is closed already
        socket.create_connection(listener.address, timeout=timeout).close()
    listener.close()
    acceptor.join(timeout)
