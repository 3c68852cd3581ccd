"""The local backend: a dedicated decoder's worker is a ``multiprocessing`` spawn on this host (the default).

Each worker checks that it runs the code this service started with (:mod:`~bci_stream.service.code_stamp`: the
stamp is taken when the backend is made, at serve start) and refuses to run otherwise; it starts in
:mod:`~bci_stream.service.worker_entry`, which checks before it imports the worker (its arguments are plain data).

Placement: this backend runs everything here, so a ``placement`` is refused (:class:`PlacementError`)
unless it names this host (``hostname`` equal to this machine's name, or a ``soft`` preference, which is
met as well as it can be); ``resources`` and ``node_id`` are Ray's and need ``--backend ray``.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from bci_stream.core.errors import PlacementError
from bci_stream.core.messages import Stop
from bci_stream.service.backends import WorkerLink, requested
from bci_stream.service.code_stamp import mark_serve_start
from bci_stream.service.spawn import start_without_sigint
from bci_stream.service.worker_entry import worker_main

log = logging.getLogger("bci_stream.supervisor")


def this_host() -> set[str]:
    """The names of this host a placement may use."""
    names = {socket.gethostname(), socket.getfqdn()}
    return {n for n in names if n}


def stop_process(handle: Any, timeout: float) -> None:
    """Stop on the command Connection, wait ``timeout``, then terminate, then kill (any process-like object)."""
    process = handle.process
    if process.is_alive():
        try:
            handle.cmd_conn.send(Stop())
        except (OSError, BrokenPipeError, ValueError):
            pass
        process.join(timeout)
    ended = None
    if process.is_alive():
        log.warning("decoder %s did not stop in %.1f s; terminating", handle.id, timeout)
        process.terminate()
        process.join(2.0)
        ended = getattr(process, "ended_by", "terminated (SIGTERM)")  # (a Ray actor's: ray.kill)
    if process.is_alive():
        process.kill()
        process.join(2.0)
        ended = "killed (SIGKILL: it did not end either 2 s after SIGTERM)"
    handle.exit_code = process.exitcode
    handle.cmd_conn.close()
    if ended is not None:  # the answer's exit code explained (before: -9 with last_error null, audit s62multi F6)
        handle.last_error = (f"decoder {handle.id}: its worker (pid {process.pid}) did not stop within {timeout:.1f} "
                             f"s of the stop (hung, or still starting up): {ended}")
        log.warning("%s", handle.last_error)


class LocalBackend:
    """Worker processes on this host (see the module docstring).

    Parameters
    ----------
    ctx
        The multiprocessing context (spawn).
    models_dir, status_interval, recordings_dir
        Handed to each worker.
    """

    name = "local"
    slow_start = False  # a spawn takes tens of ms: restarts run on the monitor thread

    def __init__(self, ctx: Any, models_dir: str, status_interval: float, recordings_dir: str | None,
                 log_level: str | None = None) -> None:
        self.ctx, self.log_level = ctx, log_level  # (log_level: the service's, handed to each worker)
        self.models_dir, self.status_interval, self.recordings_dir = models_dir, status_interval, recordings_dir
        self.hostname = socket.gethostname()
        # the code this service runs: every worker spawned from here (dedicated or shared) refuses another
        self.code_stamp = mark_serve_start()

    def check_placement(self, placement: Any) -> None:
        if placement is None:
            return
        if placement.resources is not None or placement.node_id is not None:
            asked = "resources" if placement.resources is not None else "node_id"
            raise PlacementError(f"placement.{asked} needs the ray backend (bci-stream serve --backend ray); this "
                                 "service runs workers on this host only (backend 'local'), got "
                                 f"{requested(placement)}", field=asked)
        if placement.hostname is not None and not placement.soft and placement.hostname not in this_host():
            raise PlacementError(f"placement.hostname {placement.hostname!r} is not this host ({self.hostname!r}); "
                                 "the local backend runs workers here only: use the ray backend to place them "
                                 "elsewhere", field="hostname")

    def start(self, handle: Any) -> WorkerLink:
        """Spawn the dedicated worker process of ``handle`` (its generation already counted)."""
        self.check_placement(handle.spec.options.placement)
        parent_conn, child_conn = self.ctx.Pipe()
        status_r, status_w = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=worker_main,
            args=(handle.id, handle.generation, handle.spec.model_dump_json(), self.models_dir, child_conn,
                  status_w, self.status_interval, None if handle.ring is None else vars(handle.ring.handles),
                  self.recordings_dir, self.code_stamp, self.log_level,
                  vars(handle.saved) if handle.generation > 1 and handle.saved is not None else None),
            name=f"bci-stream-decoder-{handle.id}",
            daemon=True,
        )
        start_without_sigint(process)
        child_conn.close()
        status_w.close()
        worker = {"kind": "dedicated", "index": None, "pid": process.pid}
        return WorkerLink(process, parent_conn, status_r, worker, local_placement(handle, worker))

    def terminate(self, handle: Any, timeout: float) -> None:
        stop_process(handle, timeout)

    def exit_message(self, process: Any, code: int | None) -> str:
        lost = code == 255 and self.ctx.get_start_method() == "forkserver"  # how multiprocessing says it
        return (f"worker process {process.pid} exited with code {code}"
                + (f" (signal {-code})" if code and code < 0 else "")
                + (" (or the fork server it was started from ended: its exit status is lost with it, and the worker "
                   "stops itself when its parent goes)" if lost else ""))

    def begin_shutdown(self) -> None:
        """Nothing to end: a local start does not wait (a process is spawned)."""

    def shutdown(self, timeout: float) -> None:
        """Nothing held beyond the worker processes (stopped by the supervisor)."""


def local_placement(handle: Any, worker: dict[str, Any] | None) -> dict[str, Any]:
    """Status ``placement`` of a worker on this host."""
    return {"backend": "local", "node_id": None, "hostname": socket.gethostname(), "worker": worker,
            "requested": requested(handle.spec.options.placement)}
