"""``bind_problem`` agrees with what uvicorn (asyncio's ``create_server``) binds: every address the host resolves to,
IPv6 sockets with ``IPV6_V6ONLY``, so an IPv4 server on the port does not make ``--host ::`` look busy."""

from __future__ import annotations

import socket

import pytest

from bci_stream.api.server import bind_problem


def test_a_busy_ipv4_port_is_busy_for_its_host_and_not_for_ipv6():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        busy = f"port {port} on 127.0.0.1 is in use (another server is listening there)"
        assert bind_problem("127.0.0.1", port) == busy
        if not socket.has_ipv6:
            pytest.skip("no IPv6 on this host")
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
                probe.bind(("::1", 0))
        except OSError:
            pytest.skip("IPv6 loopback is not configured here")
        assert bind_problem("::", port) is None  # asyncio binds :: with V6ONLY: the IPv4 listener does not clash
    assert bind_problem("127.0.0.1", 0) is None
