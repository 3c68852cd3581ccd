"""The Ray backend's accept loop survives peers that are not its workers: a port scan (connect, close), garbage
bytes, a client with another authkey. Before, ``Listener.accept`` raised ``EOFError`` or ``AuthenticationError``
(not ``OSError``) for such a peer, which ended the accept thread, so every later actor start failed as "did not
connect back". A real ``multiprocessing`` listener and real TCP clients on loopback; no Ray needed."""

from __future__ import annotations

import os
import queue
import socket
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import pytest

from bci_stream.service.backends.ray_connect import accept_workers


def test_stray_peers_do_not_stop_workers_from_connecting_back() -> None:
    authkey = os.urandom(32)
    listener = Listener(("127.0.0.1", 0), authkey=authkey)
    closing, arrived = threading.Event(), queue.Queue()
    acceptor = threading.Thread(target=accept_workers, args=(listener, closing, lambda *a: arrived.put(a), 2.0),
                                daemon=True)
    acceptor.start()
    try:
        with socket.create_connection(listener.address, timeout=5):  # a port scan: connect, then close
            pass
        with socket.create_connection(listener.address, timeout=5) as sock:  # garbage instead of the handshake
            sock.recv(1024)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        with pytest.raises((AuthenticationError, EOFError, OSError)):
            Client(listener.address, authkey=b"not the key")  # a stale worker of another serve
        conn = Client(listener.address, authkey=authkey)  # one of ours, after all of them
        conn.send(("tok", "control"))
        token, role, got = arrived.get(timeout=10)
        assert (token, role) == ("tok", "control") and acceptor.is_alive()
        got.close()
        conn.close()
    finally:
        closing.set()
        listener.close()
        acceptor.join(0.1)
