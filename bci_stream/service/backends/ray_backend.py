"""The ray backend: each decoder's worker is a Ray actor on a node that meets its placement.

The supervisor stays where it is (the API process, a Ray driver). It opens a ``multiprocessing.connection``
Listener (TCP on this node's Ray address, or ``listen_host``; a random key per service) and each actor
(:class:`~bci_stream.service.backends.ray_actor.WorkerHost`) connects back to it, so the supervisor gets the
same command and status Connections as from a local process, and its monitor loop, commands and restarts are
unchanged. State snapshots and the API's copy of the outputs come on two more connections, read here by one
thread. Liveness is the actor's ``wait`` call: it returns the decoder's exit code, or raises
``RayActorError`` when the actor or its node dies, and the supervisor restarts the decoder as after a local
crash (its last state snapshot restored, the gap counted), on a node that meets its placement, or leaves it
in ``error`` saying why none can.

Placement (``options.placement``): ``resources`` (Ray custom resources, e.g. one per recording room),
``node_id`` or ``hostname`` (a ``NodeAffinitySchedulingStrategy``; ``soft`` makes it a preference). It is
checked against ``ray.nodes()`` before an actor is created, and an actor that does not start within
``start_timeout`` is killed: a request is refused (:class:`PlacementError`) in a bounded time, never left
pending. ``import ray`` happens only in this module's functions (the ``cluster`` extra).

Code: each actor gets the service's code stamp (:mod:`~bci_stream.service.code_stamp`, taken when the backend is
made) as an argument and compares it with the code of its node before it imports the worker
(:class:`~bci_stream.service.worker_entry.StampedWorkerHost`; its arguments are plain data): a node with other code
refuses the decoder as a local worker would (``error``, "restart serve"; not restarted).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from multiprocessing.connection import Listener, wait
from typing import Any, Callable

import numpy as np

from bci_stream.core.errors import DecoderStoppingError, PlacementError, ServiceEndingError
from bci_stream.service.backends import WorkerLink, requested
from bci_stream.service.backends.local import stop_process
from bci_stream.service.backends.ray_connect import accept_workers, check_reachable, start_bounded, stop_accepting
from bci_stream.service.backends.ray_nodes import MIN_NODE_PREFIX, alive_nodes, named_nodes
from bci_stream.service.backends.starts import WorkerStartFailed, start_ended, wait_in_slices
from bci_stream.service.code_stamp import mark_serve_start
from bci_stream.service.model_pin import pinned_files
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.worker_entry import ROLES, StampedWorkerHost

log = logging.getLogger("bci_stream.supervisor")

HELLO_TIMEOUT_S = 10.0
_ACTOR_CLASS: Any = None
_CONNECTED_HERE = False  # whether connect_ray made this process's Ray connection (disconnect_ray ends it)


def actor_class() -> Any:
    """The Ray actor class (made once, at first use: nothing is decorated at import)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        import ray

        class RayWorker(StampedWorkerHost):
            def node_id(self) -> str | None:
                return ray.get_runtime_context().get_node_id()

        _ACTOR_CLASS = ray.remote(RayWorker)
    return _ACTOR_CLASS


def connect_ray(address: str | None, timeout: float) -> bool:
    """Connect this process to the Ray cluster at ``address`` (None: ``RAY_ADDRESS``, else one on this host) unless
    it is connected, ``ray.init`` bounded by ``timeout`` s (:func:`.ray_connect.start_bounded`: PlacementError naming
    the address and why). True when the connection is ours (made now, or by an earlier call, e.g. ``serve``'s before
    the server started): its owner ends it with :func:`disconnect_ray`; False when something else connected."""
    global _CONNECTED_HERE
    import ray

    if ray.is_initialized():
        return _CONNECTED_HERE
    start_bounded(lambda: ray.init(address=address or "auto", namespace="bci-stream", logging_level=logging.WARNING),
                  address, timeout)
    _CONNECTED_HERE = True
    return True


def disconnect_ray() -> None:
    """End the connection :func:`connect_ray` made."""
    global _CONNECTED_HERE
    import ray

    ray.shutdown()
    _CONNECTED_HERE = False


class ActorProcess:
    """A Ray actor behind the ``multiprocessing.Process`` methods the supervisor uses (see the module docstring)."""

    ended_by = "ended by ray.kill of its Ray actor"  #: local.stop_process's words when it did not stop in time

    def __init__(self, actor: Any, done: Any, pid: int | None, where: dict[str, Any]) -> None:
        self.actor, self.done, self.pid, self.where = actor, done, pid, where
        self.reason: str | None = None
        self._code: int | None = None
        self._lock = threading.Lock()

    def _poll(self, timeout: float | None) -> None:
        import ray

        if self._code is None and ray.wait([self.done], timeout=timeout)[0]:
            self._collect()

    def _collect(self) -> None:
        import ray

        with self._lock:
            if self._code is not None:
                return
            try:
                code = int(ray.get(self.done, timeout=10.0))
            except ray.exceptions.RayActorError as exc:  # the actor or its node died
                code, self.reason = 1, (f"ray actor of pid {self.pid} on node {self.where.get('node_id')} "
                                        f"({self.where.get('hostname')}) died: {str(exc).splitlines()[0]}")
            except Exception as exc:  # noqa: BLE001 - anything else ends it the same way
                code, self.reason = 1, f"ray actor of pid {self.pid} failed: {type(exc).__name__}: {exc}"
            self._code = code
        self.terminate()

    def is_alive(self) -> bool:
        self._poll(0)
        return self._code is None

    def join(self, timeout: float | None = None) -> None:
        self._poll(timeout)

    @property
    def exitcode(self) -> int | None:
        return self._code

    def terminate(self) -> None:
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    kill = terminate


class RayBackend:
    """Decoder workers as Ray actors (see the module docstring).

    Parameters
    ----------
    models_dir, status_interval, recordings_dir, log_level
        Handed to each worker (the folders must exist at the same path on every node; ``log_level``: the service's).
    address
        The Ray cluster (``ray start --head`` prints it); None: ``RAY_ADDRESS`` or a cluster on this host. Not
        used when this process is already connected to Ray.
    listen_host
        Address the actors connect back to (None: this node's Ray IP address).
    start_timeout
        Seconds an actor may take to start and connect back before its decoder is refused; also the bound on
        connecting to the cluster (:func:`~bci_stream.service.backends.ray_connect.connect_ray`).
    on_control
        ``on_control(SavedState)``: the supervisor's handler of state snapshots.
    """

    name = "ray"
    slow_start = True  # an actor may take up to start_timeout: the supervisor starts it off its monitor thread

    def __init__(self, models_dir: str, status_interval: float, recordings_dir: str | None,
                 address: str | None = None, listen_host: str | None = None, start_timeout: float = 60.0,
                 on_control: Callable[[Any], None] | None = None, log_level: str | None = None) -> None:
        import ray

        if start_timeout <= 0:
            raise ValueError(f"start_timeout must be > 0 s, got {start_timeout}")
        self.models_dir, self.status_interval, self.recordings_dir = models_dir, status_interval, recordings_dir
        self.code_stamp = mark_serve_start()  # every actor compares its node's code with it
        self.start_timeout, self.log_level = start_timeout, log_level
        self.on_control = on_control or (lambda message: None)
        self._owns_ray = connect_ray(address, start_timeout)  # under serve: the connection its CLI made
        host = listen_host or ray.util.get_node_ip_address()
        self.authkey = os.urandom(32)
        self.listener = Listener((host, 0))  # no authkey: accept_workers runs each peer's handshake off its loop
        self.address = self.listener.address
        self._cond = threading.Condition()
        self._arrived: dict[str, dict[str, Any]] = {}
        self._links: dict[Any, tuple[str, Any]] = {}  # control/outputs Connection -> (role, handle)
        self._closing = threading.Event()
        self._ending = threading.Event()  # the service's shutdown began: starts still waiting end (begin_shutdown)
        self._acceptor = threading.Thread(target=self._accept_loop, name="bci-stream-ray-accept", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="bci-stream-ray-links", daemon=True)
        self._acceptor.start()
        self._reader.start()
        log.info("ray backend: workers connect back to %s:%d", *self.address)

    # -- placement -----------------------------------------------------------------------------------

    def check_placement(self, placement: Any) -> None:
        self._plan(placement)

    def _plan(self, placement: Any) -> dict[str, Any]:
        """Ray options for ``placement`` after checking it against the alive nodes (PlacementError if none fits)."""
        options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 0, "max_concurrency": 4}
        if placement is None:
            return options
        nodes = alive_nodes(self.start_timeout)
        asked = requested(placement)
        candidates = nodes
        if placement.node_id is not None or placement.hostname is not None:
            key, value = (("NodeID", placement.node_id) if placement.node_id is not None
                          else ("NodeManagerHostname", placement.hostname))
            named = named_nodes(nodes, key, value, asked)
            if not named and not placement.soft:
                alive = ", ".join(f"{n['NodeID']} on {n['NodeManagerHostname']}" for n in nodes)
                short = (f"; a node_id shorter than {MIN_NODE_PREFIX} digits is matched whole, not as the start of "
                         "one" if key == "NodeID" and len(value) < MIN_NODE_PREFIX else "")
                raise PlacementError(f"placement {asked}: no alive node of the Ray cluster has {key} {value!r} "
                                     f"(alive: {alive or 'none'}){short}",
                                     field="node_id" if placement.node_id is not None else "hostname")
            candidates = named or nodes
        resources = dict(placement.resources or {})
        if resources:
            has = [n for n in nodes if all(n.get("Resources", {}).get(k, 0) >= v for k, v in resources.items())]
            fit = [n for n in candidates if n in has] or (has if placement.soft else [])  # soft: any (s70ray F3)
            if not fit:
                offer = {n["NodeID"][:12]: {k: v for k, v in n.get("Resources", {}).items()
                                            if not k.startswith(("node:", "memory", "object_store"))}
                         for n in candidates}
                raise PlacementError(f"placement {asked}: no alive node of the Ray cluster has these resources "
                                     f"(nodes offer {offer})", field="resources")
            candidates = fit
        if placement.node_id is not None or placement.hostname is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            named = named_nodes(candidates, key, value, asked)
            if named:  # alive: there (a soft preference is decided here, against the alive nodes; Ray's soft affinity
                # passed over an idle preferred node in a test, session 70)
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(named[0]["NodeID"], soft=False)
        options["num_cpus"], options["num_gpus"] = resources.pop("CPU", 0), resources.pop("GPU", 0)
        if resources:
            options["resources"] = resources
        return options

    # -- workers ---------------------------------------------------------------------------------------

    def start(self, handle: Any) -> WorkerLink:
        """Place ``handle``'s worker (an actor), wait for its four connections. Raises PlacementError at once when
        no node meets the placement, :class:`WorkerStartFailed` within ``start_timeout`` when it does not start."""
        import ray

        placement = handle.spec.options.placement
        options = self._plan(placement)
        token = uuid.uuid4().hex
        ring = handle.ring
        restore = handle.saved if handle.generation > 1 else None
        seed = None
        if ring is not None and handle.generation > 1 and ring.last_seq() is not None:
            seed = (ring.last_seq(), ring.last_timestamp(), ring.last_state_epoch(),
                    (handle.status.output_stream or {}).get("consumers"),  # a restart waits for them only if any
                    ring.unsettled())
        elif ring is not None and handle.generation > 1 and (owed := ring.owed_after()) is not None:
            seed = (None, owed, None, None, None)  # no output yet: owed after what the last actor accounted for
        actor = actor_class().options(**options).remote(  # plain data only: read before the actor's code check
            self.code_stamp, self.address, self.authkey, token, handle.id, handle.generation,
            handle.spec.model_dump_json(), self.models_dir, self.status_interval, self.recordings_dir,
            None if restore is None else vars(restore),
            None if ring is None else (ring.capacity, ring.n_outputs), seed,
            pinned_files(handle.id),  # the decoder's own copy of its model: the node may not share our folder
            self.log_level)  # positional, as every argument (worker_entry.LOG_LEVEL_AT: a refused actor's too)
        t0 = time.monotonic()
        try:
            started = actor.start.remote()
            ended = lambda: start_ended(handle, self._ending)  # noqa: E731 - the shutdown began, or a DELETE came
            where = wait_in_slices(lambda t: ray.get(started, timeout=t), self.start_timeout, ended)
            left = max(1.0, self.start_timeout - (time.monotonic() - t0))
            conns = wait_in_slices(lambda t: self._take(token, t), left, ended)
        except Exception as exc:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
            self._drop(token)
            if isinstance(exc, ServiceEndingError | DecoderStoppingError):  # a POST's 503 or 409; a restart ends
                raise
            if isinstance(exc, ray.exceptions.GetTimeoutError | TimeoutError):
                raise WorkerStartFailed(f"decoder {handle.id}: its Ray actor did not start within "
                                        f"{self.start_timeout:g} s (placement {requested(placement)}; are the "
                                        "nodes that meet it busy? see `ray status`)") from None
            cause = getattr(exc, "cause", None) or exc  # a RayTaskError carries the worker's own exception
            raise WorkerStartFailed(f"decoder {handle.id}: its Ray actor failed to start (placement "
                                 f"{requested(placement)}): {type(cause).__name__}: {cause}") from None
        process = ActorProcess(actor, actor.wait.remote(), where.get("pid"), where)
        with self._cond:
            for conn, (role, owner) in list(self._links.items()):
                if owner is handle:  # the previous generation's connections
                    self._links.pop(conn)
                    conn.close()
            self._links[conns["control"]] = ("control", handle)
            self._links[conns["outputs"]] = ("outputs", handle)
        placed = {"backend": self.name, "node_id": where.get("node_id"), "hostname": where.get("hostname"),
                  "worker": where, "requested": requested(placement)}
        return WorkerLink(process, conns["cmd"], conns["status"], dict(where), placed)

    def terminate(self, handle: Any, timeout: float) -> None:
        stop_process(handle, timeout)
        with self._cond:
            for conn, (role, owner) in list(self._links.items()):
                if owner is handle:
                    self._links.pop(conn)
                    if role == "control":  # outputs: the reader closes it at EOF, after the last rows
                        conn.close()

    def exit_message(self, process: Any, code: int | None) -> str:
        reason = getattr(process, "reason", None)
        return reason or (f"ray actor of pid {process.pid} on node {process.where.get('node_id')} "
                          f"({process.where.get('hostname')}) ended with code {code}")

    def begin_shutdown(self) -> None:
        self._ending.set()

    def shutdown(self, timeout: float) -> None:
        stop_accepting(self.listener, self._closing, self._acceptor)
        self._reader.join(2.0)
        with self._cond:
            for conn in self._links:
                conn.close()
            self._links.clear()
            for conns in self._arrived.values():
                for conn in conns.values():
                    conn.close()
            self._arrived.clear()
        if self._owns_ray:
            disconnect_ray()

    # -- connections ---------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        accept_workers(self.listener, self._closing, self._arrive, HELLO_TIMEOUT_S, self.authkey)

    def _arrive(self, token: str, role: str, conn: Any) -> None:
        with self._cond:
            self._arrived.setdefault(token, {})[role] = conn
            self._cond.notify_all()

    def _take(self, token: str, timeout: float) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._arrived.get(token, {})) == len(ROLES), timeout):
                raise TimeoutError(f"worker {token} did not connect back within {timeout:g} s")
            return self._arrived.pop(token)

    def _drop(self, token: str) -> None:
        with self._cond:
            for conn in self._arrived.pop(token, {}).values():
                conn.close()

    def _read_loop(self) -> None:
        """State snapshots to the supervisor, output rows into the decoder's ring; EOF ends a connection."""
        while not self._closing.is_set():
            with self._cond:
                links = dict(self._links)
            if not links:
                self._closing.wait(0.05)
                continue
            try:
                ready = wait(list(links), timeout=0.1)
            except (OSError, ValueError):  # closed under us
                continue
            for conn in ready:
                role, handle = links[conn]
                try:
                    if role == "outputs":
                        self._write_rows(handle, conn.recv_bytes())
                    elif isinstance(message := conn.recv(), SavedState):
                        self.on_control(message)
                except (EOFError, OSError, ValueError):
                    with self._cond:
                        self._links.pop(conn, None)
                    conn.close()

    @staticmethod
    def _write_rows(handle: Any, data: bytes) -> None:
        """A relay's message (:meth:`~bci_stream.service.backends.ray_actor.OutputRelay.flush`): rows, then where the
        actor's loss accounting stands, into the decoder's ring."""
        ring = handle.ring
        if ring is None:
            return
        values = np.frombuffer(data, dtype=np.float64)
        rows, (since, first_seq) = values[:-2].reshape(-1, ring.width), values[-2:]
        epochs = rows[:, 2]
        cuts = [0, *(np.flatnonzero(np.diff(epochs)) + 1).tolist(), len(rows)] if len(rows) else [0]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            ring.write(rows[lo:hi, 0], rows[lo:hi, 1], int(epochs[lo]), rows[lo:hi, 3:])
        ring.note_unsettled(None if first_seq < 0 else float(since), int(first_seq))


# check_reachable lives in ray_connect; older code imports it from here
__all__ = ["ActorProcess", "RayBackend", "actor_class", "check_reachable", "connect_ray", "disconnect_ray"]
