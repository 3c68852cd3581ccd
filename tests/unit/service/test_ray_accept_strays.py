"""The Ray backend's accept loop survives peers that are not its workers: a port scan (connect, close), garbage
bytes, a client with another authkey, and a peer that connects and says nothing. Before, ``Listener.accept`` raised
``EOFError`` or ``AuthenticationError`` (not ``OSError``) for such a peer, which ended the accept thread; and with
an authkey it ran the handshake itself with no timeout, so one silent peer held the loop: in both cases every later
actor start failed as "did not connect back". Also, closing the listener did not wake the accept thread at
shutdown. A real ``multiprocessing`` listener and real TCP clients on loopback; no Ray needed."""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import pytest

from bci_stream.service.backends.ray_connect import accept_workers, stop_accepting


class Acceptor:
    """``accept_workers`` on a thread, as ``RayBackend`` runs it; ``arrived`` gets each ``(token, role, conn)``."""

    def __init__(self, hello_timeout: float) -> None:
        self.authkey = os.urandom(32)
        self.listener = Listener(("127.0.0.1", 0))
        self.closing, self.arrived = threading.Event(), queue.Queue()
        self.thread = threading.Thread(target=accept_workers, daemon=True,
                                       args=(self.listener, self.closing, lambda *a: self.arrived.put(a),
                                             hello_timeout, self.authkey))
        self.thread.start()

    def worker_says(self, token: str, role: str) -> None:
        """A worker connecting back (as ``worker_entry.connect_back``) and the connection the loop hands over. The
        worker runs on a thread: a loop that never takes its connection must fail the test, not hang it."""
        answered: queue.Queue = queue.Queue()

        def worker() -> None:
            with Client(self.listener.address, authkey=self.authkey) as conn:
                conn.send((token, role))
                answered.put(conn.recv())

        threading.Thread(target=worker, daemon=True).start()
        got_token, got_role, got = self.arrived.get(timeout=10)
        assert (got_token, got_role) == (token, role)
        got.send("ping")  # the handed-over connection is the worker's, and open
        assert answered.get(timeout=10) == "ping"
        got.close()

    def stop(self) -> None:
        stop_accepting(self.listener, self.closing, self.thread)


def still_open(sock: socket.socket) -> bool:
    """Whether the other end has not hung up on ``sock`` (no EOF waiting), reading whatever it sent."""
    sock.setblocking(False)
    try:
        while sock.recv(1024):
            pass
        return False
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


@pytest.fixture
def acceptor(request: pytest.FixtureRequest) -> Iterator[Acceptor]:
    running = Acceptor(getattr(request, "param", 30.0))
    yield running
    running.stop()


def test_stray_peers_do_not_stop_workers_from_connecting_back(acceptor: Acceptor) -> None:
    address = acceptor.listener.address
    with socket.create_connection(address, timeout=5):  # a port scan: connect, then close
        pass
    with socket.create_connection(address, timeout=5) as sock:  # garbage instead of the handshake
        sock.recv(1024)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    with pytest.raises((AuthenticationError, EOFError, OSError)):
        Client(address, authkey=b"not the key")  # a stale worker of another serve
    acceptor.worker_says("tok", "control")  # one of ours, after all of them
    assert acceptor.arrived.empty() and acceptor.thread.is_alive()


def test_a_silent_peer_does_not_hold_the_accept_loop(acceptor: Acceptor) -> None:
    """A peer that connects and sends nothing (a node that died mid-handshake): a worker still connects back while
    it stays connected (its hello_timeout, 30 s, is far off), and so does a second one."""
    with socket.create_connection(acceptor.listener.address, timeout=5) as silent:
        assert silent.recv(1024)  # the loop's challenge: it has taken the connection
        acceptor.worker_says("tok", "status")
        acceptor.worker_says("tok", "cmd")
        assert still_open(silent) and acceptor.thread.is_alive()


@pytest.mark.parametrize("acceptor", [0.5], indirect=True)
def test_a_silent_peer_is_hung_up_on_after_hello_timeout(acceptor: Acceptor) -> None:
    with socket.create_connection(acceptor.listener.address, timeout=10) as silent:
        while silent.recv(1024):  # the challenge, then EOF once hello_timeout has passed
            pass
    acceptor.worker_says("tok", "outputs")


def test_stop_ends_the_accept_thread(acceptor: Acceptor) -> None:
    """Closing a listening socket wakes no thread blocked in its accept(), nor one on a silent peer's handshake:
    ``stop_accepting`` ends the loop in both states (here: back in accept() after a worker, a silent peer taken)."""
    address = acceptor.listener.address
    acceptor.worker_says("tok", "control")
    with socket.create_connection(address, timeout=5) as silent:
        assert silent.recv(1024)  # the loop's challenge: it has taken the silent peer
        acceptor.stop()
        assert not acceptor.thread.is_alive()
        with pytest.raises(OSError):
            Client(address, authkey=acceptor.authkey)  # nothing listens any more
