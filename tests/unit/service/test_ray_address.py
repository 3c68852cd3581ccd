"""The Ray backend refuses an address nothing answers at, at once (Ray's own client retries it for minutes)."""

from __future__ import annotations

import socket
import time

import pytest

from bci_stream.core.errors import PlacementError
from bci_stream.service.backends.ray_backend import RayBackend, check_reachable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_nothing_answers_at_is_refused_at_once(tmp_path, scheme):
    address = f"{scheme}127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(PlacementError, match="nothing answers at ray_address"):
        RayBackend(str(tmp_path), 0.1, None, address=address)
    assert time.monotonic() - t0 < 10.0


def test_a_listening_address_and_auto_pass_the_check():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_reachable(f"127.0.0.1:{s.getsockname()[1]}")
    check_reachable(None)
    check_reachable("auto")


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_out_of_range_is_named(port):
    """Before (audit s61ray F7): ``Connection refused`` (getaddrinfo wraps the port), or another port tried."""
    with pytest.raises(PlacementError, match=f"ray_address='127.0.0.1:{port}': its port must be 1-65535, got {port}$"):
        check_reachable(f"127.0.0.1:{port}")


@pytest.mark.parametrize(("address", "said"), [
    (":18770", "must be host:port with a host and a port number"),
    ("127.0.0.1:", "must be host:port with a host and a port number"),
    ("ray://:10001", "must be host:port with a host and a port number"),
    ("http://127.0.0.1:18770", "must be host:port (or ray://host:port for Ray Client), without another scheme"),
])
def test_an_address_of_another_shape_is_named(address, said):
    """Audit s70ray F7: Ray's own traceback came first (':18770'), another address was named ('127.0.0.1:' read as
    '192.0.2.2:'), or 'Name or service not known' for a URL."""
    with pytest.raises(PlacementError, match=f"^backend 'ray': ray_address={address!r} {said.replace('(', '[(]')}"
                                             .replace(")", "[)]")):
        check_reachable(address)
