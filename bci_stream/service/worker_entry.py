"""A worker's first code: it compares the code stamp before it imports any of the worker's own modules.

A worker imports bci-stream from disk when it starts (:mod:`~bci_stream.service.code_stamp`). Code that changed under
a running ``serve`` may not even import (a module renamed or removed, a syntax error), and a worker whose first act
is that import would end as a crash (``exited with code 1`` and an ImportError, restarted again and again) rather
than refuse with "restart serve". So every worker starts here: this module imports the standard library and
:mod:`~bci_stream.service.code_stamp` only, and imports the worker after the stamp matched.

* :func:`worker_main` and :func:`shared_worker_main` are the ``multiprocessing`` spawn targets (a dedicated worker,
  a shared one). Spawn unpickles the target and its arguments in the child before the target runs, importing their
  modules: hence the targets live here, and their arguments are plain data (the ring as a dict of its shared arrays).
* :class:`StampedWorkerHost` is the body of a decoder's Ray actor; the service's stamp travels as its first argument
  (a node has code of its own), and so do its other arguments, as plain data.

A refused worker says why on its status connection, as a refused decoder does (state ``error``, exit code
:data:`EXIT_REFUSED`: not restarted). Its code and the service's differ (a class renamed, a field added, a module
moved), so the refusal is built of builtins only, a protocol both versions share and that must not change:
``(decoder_id, generation, (REFUSED, why, exit_code, worker))`` on the status connection, ``worker`` a dict
(:func:`refuse`); the supervisor makes the status of it with its own code
(:func:`~bci_stream.service.status_channel.received_status`; items after ``worker`` are ignored). A refusing shared
worker reads what it is given without the service's classes (:func:`read_stream`), only the fields it needs.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import signal
import socket
from multiprocessing.connection import Client, Connection
from typing import Any

from bci_stream.service.code_stamp import code_changed

log = logging.getLogger("bci_stream.worker")

#: A worker's exit code when its model or stream was refused (the supervisor does not restart it).
EXIT_REFUSED = 3
#: A worker's exit code when it could not load its model now for lack of memory or file descriptors
#: (ModelUnavailableError): restarted as a crash is, and said so when the restarts are used up.
EXIT_UNAVAILABLE = 4
#: The start of a worker's error when it ended to be restarted for a condition that passes (exit code 1, as a crash;
#: e.g. a returning source whose description did not come in time: SourceUnavailableError), said without a traceback.
RESTARTED = "worker restarted: "
#: In the error of a Ray actor that ended because its parent process, its node's raylet, did (the node went down).
NODE_GONE = " (the node's Ray raylet) ended"
#: The connections a Ray actor opens back to the supervisor, each introduced by ``(token, role)``.
ROLES = ("control", "cmd", "status", "outputs")
#: First item of a refusal on a status connection (see the module docstring); never change it.
REFUSED = "bci-stream-refused"


def worker_main(decoder_id: str, generation: int, spec_json: str, models_dir: str, cmd_conn: Connection,
                status_conn: Connection, status_interval: float, ring: dict[str, Any] | None = None,
                recordings_dir: str | None = None, code_stamp: str | None = None, log_level: str | None = None,
                restore: dict[str, Any] | None = None) -> None:
    """Spawn target of a dedicated worker; ``ring``: the fields of its :class:`~bci_stream.service.ring.RingHandles`;
    ``code_stamp``: its service's (None: the environment's, :func:`~bci_stream.service.code_stamp.code_changed`);
    ``log_level``: its service's (None: :func:`~bci_stream.core.log_setup.level_of`); ``restore``: the fields of the
    last generation's :class:`~bci_stream.service.pool_messages.SavedState` (a restart), or None."""
    ignore_group_stops()  # Ctrl-C or a closed terminal reaches the whole process group: the supervisor stops us
    if (why := code_changed(code_stamp)) is not None:
        started_logging(f"decoder[{decoder_id}]", log_level)
        refuse(status_conn, decoder_id, generation, why, {"kind": "dedicated", "index": None, "pid": os.getpid()})
        raise SystemExit(EXIT_REFUSED)
    from bci_stream.service.ring import RingHandles
    from bci_stream.service.worker import run_dedicated

    run_dedicated(decoder_id, generation, spec_json, models_dir, cmd_conn, status_conn, status_interval,
                  None if ring is None else RingHandles(**ring), recordings_dir, log_level, restore)


def shared_worker_main(index: int, control: Connection, models_dir: str, status_interval: float,
                       recordings_dir: str | None = None, code_stamp: str | None = None,
                       log_level: str | None = None) -> None:
    """Spawn target of shared worker ``index``: with other code it refuses every stream it is given (exit 0 when
    told to stop, as a shared worker does; :data:`EXIT_REFUSED` when it cannot read what it is given)."""
    ignore_group_stops()
    if (why := code_changed(code_stamp)) is not None:
        started_logging(f"shared-worker[{index}]", log_level)
        raise SystemExit(refuse_streams(control, index, why))
    from bci_stream.service.shared_worker import run_shared

    run_shared(index, control, models_dir, status_interval, recordings_dir, log_level)


#: Where ``log_level`` is in the arguments after ``generation`` (spec_json, models_dir, status_interval,
#: recordings_dir, restore, ring_shape, seed, pinned, log_level: :class:`~.backends.ray_actor.WorkerHost`'s order).
LOG_LEVEL_AT = 8


class StampedWorkerHost:
    """Body of a decoder's Ray actor: the stamp first, then :class:`~bci_stream.service.backends.ray_actor.WorkerHost`.

    Parameters
    ----------
    stamp
        The service's code stamp (:func:`~bci_stream.service.code_stamp.mark_serve_start`).
    address, authkey, token, decoder_id, generation, *rest
        The arguments of ``WorkerHost`` (plain data: its ``restore`` as the fields of a ``SavedState``; its last,
        ``log_level``, also a refused actor's).
    """

    def __init__(self, stamp: str, address: tuple[str, int], authkey: bytes, token: str, decoder_id: str,
                 generation: int, *rest: Any) -> None:
        self.refusal = code_changed(stamp, node=True)
        self.address, self.authkey, self.token = tuple(address), authkey, token
        self.decoder_id, self.generation = decoder_id, generation
        # the service's log level, WorkerHost's last argument, for a refusal's lines (positional: a node of older
        # code refuses these arguments by its code stamp, not by a TypeError; review s62b F5)
        level = rest[LOG_LEVEL_AT] if len(rest) > LOG_LEVEL_AT else None
        self.log_level = level if isinstance(level, str) else None
        self.host: Any = None
        if self.refusal is None:
            from bci_stream.service.backends.ray_actor import WorkerHost

            self.host = WorkerHost(self.address, authkey, token, decoder_id, generation, *rest)

    def node_id(self) -> str | None:
        """This node's id (the Ray actor class overrides it)."""
        return None

    def start(self) -> dict[str, Any]:
        """Connect back and decode (see ``WorkerHost.start``), or, with other code than the service's, connect back
        to say so on the status connection; returns where this worker runs."""
        where = {"kind": "ray", "pid": os.getpid(), "node_id": self.node_id(), "hostname": socket.gethostname()}
        if self.host is not None:
            return self.host.start(where)
        started_logging(f"ray-decoder[{self.decoder_id}]", self.log_level)  # the service's (review s62 F5)
        conns = [connect_back(self.address, self.authkey, self.token, role) for role in ROLES]
        refuse(conns[ROLES.index("status")], self.decoder_id, self.generation, self.refusal, where)
        for conn in conns:
            conn.close()
        return where

    def wait(self) -> int:
        """Block until the decoder ends; its exit code (0 stopped, 3 refused, 4 model unavailable now, 1 crashed)."""
        return EXIT_REFUSED if self.host is None else self.host.wait()


def connect_back(address: tuple[str, int], authkey: bytes, token: str, role: str) -> Connection:
    """A Ray actor's connection ``role`` (one of :data:`ROLES`) to the supervisor's Listener."""
    conn = Client(address, authkey=authkey)
    conn.send((token, role))
    return conn


# -- refusing without the worker's code ---------------------------------------------------------------------------


def refuse(status_conn: Any, decoder_id: str, generation: int, why: str, worker: dict[str, Any]) -> None:
    """Send decoder ``decoder_id`` a refusal (``why``; exit code :data:`EXIT_REFUSED`) on its status connection,
    then close it."""
    log.error("decoder %s: %s", decoder_id, why)
    try:
        status_conn.send((decoder_id, generation, (REFUSED, why, EXIT_REFUSED, worker)))
    except (OSError, BrokenPipeError, ValueError, AttributeError, TypeError):  # the supervisor is gone; no connection
        pass
    close(status_conn)


class Fields:
    """A message of the service's own code read without its class (which may not import): what it was built of.

    Any way a pickle builds an object works (a dataclass's state, ``cls(*args)`` of a NamedTuple or an Enum, a
    ``__reduce__``): the positional arguments are kept in ``args``, the keyword and state fields as attributes."""

    def __new__(cls, *args: Any, **fields: Any) -> Fields:
        self = super().__new__(cls)
        self.__dict__.update(fields, args=args)
        return self

    def __init__(self, *args: Any, **fields: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        for part in state if isinstance(state, tuple) else (state,):  # (dict, slots) of a class with __slots__
            if isinstance(part, dict):
                self.__dict__.update({str(k): v for k, v in part.items()})


class FieldsUnpickler(pickle.Unpickler):
    """Reads bci-stream objects, and any class that does not import here, as :class:`Fields` of their class name."""

    def find_class(self, module: str, name: str) -> Any:
        if module != "bci_stream" and not module.startswith("bci_stream."):
            try:
                return super().find_class(module, name)
            except Exception:  # noqa: BLE001 - a class of another version of a dependency: its fields only
                pass
        return type(name, (Fields,), {})


def read_stream(payload: bytes) -> tuple[str, Any]:
    """A message on a shared worker's control connection, read without the service's code: its class name and the
    object (:class:`Fields` for bci-stream classes); ``("", None)`` when it cannot be read at all."""
    try:
        message = FieldsUnpickler(io.BytesIO(payload)).load()
    except Exception:  # noqa: BLE001 - whatever another version sends, a refusing worker must not crash
        log.exception("a message from the service could not be read")
        return "", None
    return type(message).__name__, message


def refuse_streams(control: Connection, index: int, why: str) -> int:
    """A shared worker with other code: refuse every stream added on ``control`` (its status says ``why`` and
    :data:`EXIT_REFUSED`), until told to stop or the supervisor is gone (returns 0), or a message cannot be read
    (returns :data:`EXIT_REFUSED`: the supervisor then refuses the streams of this worker without a reason)."""
    parent, worker = os.getppid(), {"kind": "shared", "index": index, "pid": os.getpid()}
    while os.getppid() == parent:
        try:
            if not control.poll(0.5):
                continue
            payload = control.recv_bytes()
        except (EOFError, OSError):
            return 0
        name, message = read_stream(payload)
        if name == "StopWorker":
            return 0
        decoder_id, status_conn = getattr(message, "decoder_id", None), getattr(message, "status_conn", None)
        if name != "AddStream" or not isinstance(decoder_id, str) or status_conn is None:
            log.error("shared worker %d: cannot refuse the message it was sent (%s): it ends", index, name or "?")
            return EXIT_REFUSED
        refuse(status_conn, decoder_id, getattr(message, "generation", 0), why, worker)
        close(getattr(message, "cmd_conn", None))
    return 0


def close(conn: Any) -> None:
    """Close a connection a message may or may not have carried."""
    try:
        conn.close()
    except (AttributeError, OSError):
        pass


def started_logging(who: str, level: str | None = None) -> None:
    from bci_stream.core.log_setup import configure_worker  # once the code stamp was checked: only then

    configure_worker(who, level)


def ignore_group_stops() -> None:
    """Ignore SIGINT (Ctrl-C) and SIGHUP (a closed terminal), which reach the service's whole process group: the
    supervisor stops its workers in order (a SIGHUP ended a worker at once, its recording unfinished: s69deploy F7)."""
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)

