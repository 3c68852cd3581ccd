"""A worker whose code is not the service's refuses with builtins only, so the refusal survives the very changes it
exists for: a status whose fields or module changed still reaches the decoder's status with its reason, and a
shared worker given a message whose fields its own code would build differently (a NamedTuple, an Enum, a
``__reduce__``, ``__slots__``) still refuses it, never crashes (exit 1 would be restarted)."""

from __future__ import annotations

import enum
import multiprocessing as mp
import pickle
import pickletools
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from bci_stream.core.status import WorkerStatus
from bci_stream.service.pool_messages import AddStream, StopWorker
from bci_stream.service.status_channel import received_status
from bci_stream.service.worker_entry import EXIT_REFUSED, REFUSED, refuse, refuse_streams

WHY = "the bci-stream code on disk changed since serve started (test): restart serve"


def globals_in(payload: bytes) -> list[str]:
    """The classes and functions a pickle names (what its reader must import)."""
    names, strings = [], []
    for op, arg, _ in pickletools.genops(payload):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            names.append(".".join(strings[-2:]))
        elif op.name == "GLOBAL":
            names.append(arg.replace(" ", "."))
    return names


def _pool() -> Any:
    """The supervisor's pool (it notes when a shared worker last reported); no process is started."""
    from bci_stream.service.shared_pool import SharedPool
    from bci_stream.service.spawn import start_without_sigint

    return SharedPool(mp.get_context("spawn"), 1, "models", 0.25, None, start_without_sigint)


def test_a_refusal_names_no_class_of_the_service():
    """Pins the format: builtins only, ``(decoder_id, generation, (REFUSED, why, exit code, worker))``."""
    a, b = mp.Pipe()
    refuse(a, "d1", 2, WHY, {"kind": "dedicated", "index": None, "pid": 123})
    payload = b.recv_bytes()
    assert globals_in(payload) == []
    assert pickle.loads(payload) == ("d1", 2, (REFUSED, WHY, EXIT_REFUSED, {"kind": "dedicated", "index": None,
                                                                         "pid": 123}))
    assert REFUSED == "bci-stream-refused"  # shared by every version: never change it


def test_the_supervisor_makes_the_status_of_a_refusal_with_its_own_class():
    status, code = received_status((REFUSED, WHY, EXIT_REFUSED, {"kind": "shared", "index": 0, "pid": 7}, "later"))
    assert isinstance(status, WorkerStatus) and status.state == "error" and status.error == WHY
    assert status.pid == 7 and status.worker["kind"] == "shared" and code == EXIT_REFUSED
    snapshot = WorkerStatus(state="running")
    assert received_status(snapshot) == (snapshot, None)


def test_a_refusal_reaches_the_decoders_status_through_the_supervisors_receive():
    """The supervisor's real receive path, on a real pipe (the reviewer's repro: a renamed WorkerStatus field in the
    worker's code used to lose the reason; a moved module was imported from disk into serve)."""
    from bci_stream.service.backends.handle import DecoderHandle
    from bci_stream.service.restart_policy import RestartPolicy
    from bci_stream.service.selector_matches import SelectorMatches
    from bci_stream.service.supervisor import Supervisor
    from bci_stream.core.spec import DecoderSpec

    for worker in ("dedicated", "shared"):
        spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m", "options": {"worker": worker}})
        handle = DecoderHandle(id="d1", spec=spec)
        handle.generation = 1
        a, b = mp.Pipe()
        handle.status_conn = b
        refuse(a, "d1", 1, WHY, {"kind": worker, "index": 0, "pid": 9})
        sup = types.SimpleNamespace(_lock=threading.Lock(), policy=RestartPolicy(3, 0.1, 60.0), _handles={},
                                    _clashes=set(), matches=SelectorMatches(), pool=_pool())
        Supervisor._receive(sup, b, handle)
        assert handle.status.state == "error" and handle.last_error == WHY
        assert handle.slot_exit == (EXIT_REFUSED if worker == "shared" else None)  # a dedicated one exits with it


def test_a_status_this_service_cannot_read_is_an_error_not_the_decoders_status():
    """A worker of other code that sends neither a WorkerStatus nor today's refusal (an older refusal format, a
    short tuple): the decoder goes to ``error`` saying so; before, the object became its status and the monitor
    failed on it at every round (review 2, finding 2)."""
    from bci_stream.service.backends.handle import DecoderHandle
    from bci_stream.service.restart_policy import RestartPolicy
    from bci_stream.service.selector_matches import SelectorMatches
    from bci_stream.service.supervisor import Supervisor
    from bci_stream.core.spec import DecoderSpec

    for sent in ((REFUSED, "why"), {"state": "running"}):
        status, code = received_status(sent)
        assert status.state == "error" and "restart serve" in status.error and code == EXIT_REFUSED
        spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m", "options": {"worker": "shared"}})
        handle = DecoderHandle(id="d1", spec=spec)
        handle.generation = 1
        a, b = mp.Pipe()
        handle.status_conn = b
        a.send(("d1", 1, sent))
        sup = types.SimpleNamespace(_lock=threading.Lock(), policy=RestartPolicy(3, 0.1, 60.0), _handles={},
                                    _clashes=set(), matches=SelectorMatches(), pool=_pool())
        Supervisor._receive(sup, b, handle)
        assert isinstance(handle.status, WorkerStatus) and handle.status.state == "error"
        assert "cannot read" in handle.last_error and handle.slot_exit == EXIT_REFUSED


# -- a message whose classes the refusing worker's code would build differently ---------------------------------

FUTURE = "bci_stream.future_messages_s16g"


class Bounds(NamedTuple):  # pickled as Bounds(*fields): a bare holder class used to fail "takes no arguments"
    low: float
    high: float


class Kind(enum.Enum):  # pickled as Kind(value)
    SHARED = "shared"


class Reduced:  # pickled through a function of the service's code
    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return make_reduced, (self.n,)


def make_reduced(n: int) -> Reduced:
    return Reduced(n)


@dataclass(frozen=True, slots=True)
class Slotted:  # its state is (None, slots)
    width: int


@dataclass(frozen=True)
class FutureAddStream:  # AddStream as a later release might send it
    decoder_id: str
    generation: int
    status_conn: Any
    cmd_conn: Any
    bounds: Bounds
    kind: Kind
    reduced: Reduced
    slotted: Slotted


@pytest.fixture
def future_module(monkeypatch):
    module = types.ModuleType(FUTURE)
    for cls in (Bounds, Kind, Reduced, Slotted, FutureAddStream):
        cls.__module__ = FUTURE
        setattr(module, cls.__name__, cls)
    make_reduced.__module__ = FUTURE
    module.make_reduced = make_reduced
    FutureAddStream.__name__ = FutureAddStream.__qualname__ = "AddStream"
    module.AddStream = FutureAddStream
    monkeypatch.setitem(sys.modules, FUTURE, module)
    return module


@pytest.mark.parametrize("message", ["today", "future"])
def test_a_refusing_shared_worker_refuses_any_add_stream_and_stops(future_module, message):
    supervisor_end, worker_end = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    cmd, cmd_child = mp.Pipe()
    if message == "today":
        add = AddStream("d1", 4, "{}", cmd_child, status_w)
    else:
        add = future_module.AddStream("d1", 4, status_w, cmd_child, Bounds(0.0, 1.0), Kind.SHARED, Reduced(3),
                                      Slotted(2))
    supervisor_end.send(add)
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(refuse_streams(worker_end, 0, WHY)), daemon=True)
    thread.start()
    assert status_r.poll(10), "no refusal on the status pipe"
    decoder_id, generation, snapshot = status_r.recv()
    assert (decoder_id, generation) == ("d1", 4) and received_status(snapshot)[0].error == WHY
    supervisor_end.send(StopWorker())
    thread.join(10)
    assert done == [0]  # told to stop: a shared worker's normal end


def test_a_message_it_cannot_read_at_all_ends_the_worker_as_refused_not_crashed():
    supervisor_end, worker_end = mp.Pipe()
    supervisor_end.send_bytes(b"\x80\x05not a pickle")
    assert refuse_streams(worker_end, 0, WHY) == EXIT_REFUSED
