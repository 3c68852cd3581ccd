"""Run the API with uvicorn: in the foreground (``bci-stream serve``) or in a background thread."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.main import STARTUP_FAILURE

from bci_stream.api.app import create_app
from bci_stream.api.http_limits import uvicorn_options
from bci_stream.api.open_files import raise_open_files_limit
from bci_stream.core.settings import ENV_PREFIX, Settings
from bci_stream.core.log_setup import configure_service, uvicorn_log_config


def host_problem(host: str) -> str | None:
    """Why uvicorn could not listen on ``host`` at all, whatever the port (a name that does not resolve, an address
    of no interface of this host), or None: a trial bind of each of its addresses on a free port."""
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"cannot resolve host {host!r}: {exc}"
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.bind(address)
            except OSError as exc:
                return f"cannot listen on host {host!r} ({address[0]}): {exc.strerror or exc}"
    return None


def bind_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on ``host:port`` (e.g. the port is in use), or None when it can.

    A trial bind of every address ``host`` resolves to, as asyncio's ``create_server`` (uvicorn's) binds them
    (``SO_REUSEADDR``; ``IPV6_V6ONLY`` on IPv6), closed at once, so a busy port gives one line before the server
    starts instead of uvicorn's log and a traceback. Port 0 (any free port) is always fine.
    """
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"cannot resolve host {host!r}: {exc}"
    with contextlib.ExitStack() as held:  # every address at once, as asyncio holds them
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = held.enter_context(socket.socket(family, kind, proto))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port {port} on {host} is in use (another server is listening there)"
                return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


#: Seconds the requests still running at SIGTERM get before the decoders are stopped anyway: a command to a hung
#: worker would otherwise hold the shutdown for its whole timeout (a swap: 60 s), past systemd's TimeoutStopSec (20 s).
GRACEFUL_S = 5.0


class Server(uvicorn.Server):
    """uvicorn's server, which tells the service its shutdown began before it waits (up to :data:`GRACEFUL_S`) for the
    requests still running: one waiting for a decoder's start (a Ray placement, up to ``ray_start_timeout``) or for
    a worker's answer is then answered at once (503, ``the service is shutting down``), instead of being cancelled
    after that wait (a bare 500, and a traceback in the log: audit s61ray F3)."""

    def _supervisor(self) -> Any:
        return getattr(getattr(self.config.app, "state", None), "supervisor", None)  # None: no lifespan yet

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The signal (SIGINT, SIGTERM) that ends the server: the supervisor knows it at once. A SIGTERM sent to the
        whole process group (``timeout``, ``kill -- -PGID``, supervisord's ``killasgroup``, systemd's
        ``KillMode=control-group``) reaches the workers too, and a worker it ended is then no crash to restart
        (before: an ERROR line, "exited with code 255 ...; restart 1/3", in a clean shutdown: audit s66cli F3)."""
        self.signalled()
        if sig == signal.SIGINT and self.should_exit:  # a second Ctrl-C: not uvicorn's forced exit, which skipped the
            sig = signal.SIGTERM  # shutdown's steps with a traceback (s69deploy F6); the shutdown is bounded anyway
        super().handle_exit(sig, frame)

    def signalled(self) -> None:
        """A stop signal reached this process (and maybe its workers): the supervisor knows its shutdown began, so a
        worker the signal ended is no crash to restart (only an Event's flag: fit for a signal handler)."""
        if (supervisor := self._supervisor()) is not None:
            supervisor.ending.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if (supervisor := self._supervisor()) is not None:
            supervisor.begin_shutdown()
        await super().shutdown(sockets)


def drop_token_env() -> None:
    """Remove ``BCI_STREAM_TOKEN`` (in any case: the settings read environment names so) from this process's
    environment, so that the processes it starts from now on do not inherit it."""
    for key in [k for k in os.environ if k.upper() == f"{ENV_PREFIX}TOKEN"]:
        del os.environ[key]


def serve(settings: Settings) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM shut the decoders down cleanly), then return.

    uvicorn handles both signals while it runs; after its orderly shutdown it restores the handlers it found and
    raises the signal it caught again. SIGTERM's default action would then end the process by that signal (status
    143 in a shell: a container or script checking for 0 sees a failure), Ctrl-C's is a ``KeyboardInterrupt``: so
    SIGTERM is given Ctrl-C's handler here (as ``replay`` does), and either ends in a ``KeyboardInterrupt`` that the
    caller (``bci-stream serve``) takes as exit 0. Called off the main thread, no handler is changed.

    The token is taken out of the environment first (``settings`` holds it): the worker processes, started later
    (multiprocessing's fork server, the resource tracker), would inherit it, and need it not (audit s46, security S5).
    """
    main = threading.current_thread() is threading.main_thread()
    if main and hasattr(signal, "SIGHUP"):  # first: before any thread or process of the service starts
        hang_up_as_term()
    drop_token_env()
    configure_service(settings.log_level)  # the service's own loggers and its workers', not only uvicorn's
    raise_open_files_limit(settings)  # before any worker starts: they inherit it
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main else None
    try:
        server = Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                       log_level=settings.log_level, log_config=uvicorn_log_config(settings.log_level),
                                       timeout_graceful_shutdown=GRACEFUL_S, **uvicorn_options(settings)))
        with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
            server.run()
        if not server.started:  # as uvicorn.run: a failed start-up is exit 3
            raise SystemExit(STARTUP_FAILURE)
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def hang_up_as_term() -> None:
    """A closed terminal (SIGHUP, to the whole process group: an SSH session dropped) shuts the service down as SIGTERM
    does. uvicorn handles only SIGINT and SIGTERM, and SIGHUP's default action ended the service at once, its
    recordings unfinished, and with it multiprocessing's fork server and resource tracker (audit s69deploy F7).
    SIGHUP is blocked in this thread before any other starts (every thread, and every process started from here on,
    inherits the mask: the workers and those helpers never take it), and one thread waits for it and sends this
    process SIGTERM."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})

    def wait() -> None:
        signal.sigwait({signal.SIGHUP})
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="bci-stream-sighup", daemon=True).start()


class BackgroundServer:
    """A real uvicorn server on a thread of this process, for the demo and the tests.

    ``port=0`` in the settings picks a free port; :attr:`url` tells which.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACEFUL_S,
                                **uvicorn_options(settings))
        self.server = Server(config)
        self._thread = threading.Thread(target=self.server.run, name="bci-stream-http", daemon=True)
        self.url = ""

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(
                    f"HTTP server failed to start on {self.settings.host}:{self.settings.port} (see the log above)"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"HTTP server did not start within {timeout:g} s")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30.0)

    def signalled(self) -> None:
        """A stop signal (Ctrl-C, SIGTERM) reached this process, and maybe its workers (sent to the process group): a
        worker it ended is no crash to restart, as :meth:`Server.handle_exit` has it for ``serve`` (the demo's worker
        was restarted before its DELETE: audit s68readme F2)."""
        self.server.signalled()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
