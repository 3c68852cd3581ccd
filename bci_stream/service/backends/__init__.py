"""The supervisor's one seam for where worker processes run: ``local`` (this host) or ``ray`` (a Ray cluster).

A backend starts the worker of one decoder and hands back a :class:`WorkerLink`: the same two
``multiprocessing`` Connections whatever the backend (commands both ways, status snapshots in), a
process-like object for liveness (``is_alive``, ``join``, ``exitcode``, ``pid``, ``terminate``, ``kill``) and
where it runs. The supervisor's monitor loop, commands, status and restarts are therefore one code for both.

* :mod:`~bci_stream.service.backends.local`: a ``multiprocessing`` spawn per dedicated decoder (shared decoders
  go to the supervisor's shared pool); the embedded default, nothing else to install.
* :mod:`~bci_stream.service.backends.ray_backend`: each decoder's worker is a Ray actor placed on a node that
  meets the decoder's ``placement``; ``import ray`` happens only there, when that backend is chosen.
* :mod:`~bci_stream.service.backends.starts`: slow starts off the monitor thread, and the restart policy;
  :mod:`~bci_stream.service.backends.handle`: the :class:`DecoderHandle` a backend starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

BackendName = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")


@dataclass
class WorkerLink:
    """One started worker, as the supervisor sees it.

    Attributes
    ----------
    process
        Liveness: ``is_alive()``, ``join(timeout)``, ``exitcode``, ``pid``, ``terminate()``, ``kill()``
        (a ``multiprocessing.Process``, or a Ray actor behind the same methods).
    cmd_conn, status_conn
        The decoder's command Connection (duplex) and status Connection (read end).
    worker
        The status ``worker`` object until the worker's own first snapshot (``kind``, ``pid``, ...).
    placement
        Where it runs: ``backend``, ``node_id``, ``hostname``, ``worker`` and the ``requested`` placement.
    """

    process: Any
    cmd_conn: Any
    status_conn: Any
    worker: dict[str, Any]
    placement: dict[str, Any] = field(default_factory=dict)


class WorkerBackend(Protocol):
    """Starts and stops decoder workers somewhere (see the module docstring)."""

    name: str
    slow_start: bool  # a start may take long (Ray: up to its start timeout): restarts run off the monitor thread
    code_stamp: str  # the service's code stamp (code_stamp.mark_serve_start), taken when the backend is made

    def check_placement(self, placement: Any) -> None:
        """Raise :class:`~bci_stream.core.errors.PlacementError` when ``placement`` (``options.placement``, may be
        None) cannot be met now; quick (no worker is started)."""

    def start(self, handle: Any) -> WorkerLink:
        """Start the worker of ``handle`` (its ``id``, ``generation``, ``spec``, ``ring``, ``saved`` state) and
        return its link; raises PlacementError when no node can take it (final), or
        :class:`~bci_stream.service.backends.starts.WorkerStartFailed` when it did not start in a bounded time
        (transient: a restart is tried again)."""

    def terminate(self, handle: Any, timeout: float) -> None:
        """Stop ``handle``'s worker: Stop on its command Connection, then wait, terminate, kill; sets
        ``handle.exit_code`` and closes its command Connection."""

    def exit_message(self, process: Any, code: int | None) -> str:
        """Why a worker ended, for the decoder's ``last_error``."""

    def begin_shutdown(self) -> None:
        """The service's shutdown began: a start still waiting (for a node, for its worker) ends now with
        :class:`~bci_stream.core.errors.ServiceEndingError`."""

    def shutdown(self, timeout: float) -> None:
        """Release what the backend holds (listener, threads, the Ray connection); workers are stopped first."""


def make_backend(name: str, **options: Any) -> WorkerBackend:
    """The backend called ``name`` (``local`` | ``ray``); ``options`` go to its constructor.

    Raises
    ------
    ValueError
        An unknown name.
    """
    if name == "local":
        from bci_stream.service.backends.local import LocalBackend

        return LocalBackend(**options)
    if name == "ray":
        from bci_stream.service.backends.ray_backend import RayBackend

        return RayBackend(**options)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")


def requested(placement: Any) -> dict[str, Any] | None:
    """A decoder's ``options.placement`` as plain data (None when it asked for nothing)."""
    return None if placement is None else placement.model_dump(exclude_none=True)
