"""Connection-level limits of the HTTP server (audit s46, security S2), over a real uvicorn server and raw sockets.

Before, a connection that sent nothing, or half a request head, was held for good (uvicorn's keep-alive timer runs
only after a response, and stops at the first byte received). Each close below is awaited up to 30 s: the tests
check that it happens, never how soon; normal requests, keep-alive reuse and an idle WebSocket subscriber still work.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.bound_port import wait_bound_port
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)

HEAD_TIMEOUT_S = 2.0  # short, so that the closes come soon; a normal client's head comes within milliseconds
CLOSE_WITHIN_S = 30.0  # how long a close is awaited (generous: a loaded machine)
GET = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1,
                        recordings_dir=tmp_path_factory.mktemp("recordings"), http_header_timeout_s=HEAD_TIMEOUT_S)
    with BackgroundServer(settings) as srv:
        yield srv


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=CLOSE_WITHIN_S)


def closed_by_server(sock: socket.socket, within: float = CLOSE_WITHIN_S) -> bool:
    """True once the server closed ``sock`` (what it sent before is read and dropped), False if it is still open
    ``within`` seconds on."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP response from ``sock`` (a body with a Content-Length): its status and its body."""
    status, _, body = read_whole_response(sock)
    return status, body


def read_whole_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response from ``sock`` (a body with a Content-Length): its status, headers (names lowercased), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection before a whole response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection within a response's body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def status_line(sock: socket.socket) -> bytes:
    """The status line of the response that comes on ``sock`` (what follows it is not read)."""
    data = b""
    while b"\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    return data.partition(b"\r\n")[0]


def test_a_silent_connection_is_closed(server):
    with connect(server.url) as sock:
        assert closed_by_server(sock), f"a connection that sent nothing is still open after {CLOSE_WITHIN_S} s"


def test_a_connection_that_sends_half_a_head_is_closed(server):
    with connect(server.url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert closed_by_server(sock), f"a half-sent head is still held after {CLOSE_WITHIN_S} s"


def test_keep_alive_reuse_works_and_half_a_second_head_is_closed(server):
    """Two requests on one connection are answered (keep-alive); half of a third head, then nothing: closed (uvicorn's
    keep-alive timer had stopped at its first byte, and held the connection for good)."""
    with connect(server.url) as sock:
        for _ in range(2):
            sock.sendall(GET)
            status, body = read_response(sock)
            assert status == 200 and b'"ok"' in body, body
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        assert closed_by_server(sock), f"half a head after a response is still held after {CLOSE_WITHIN_S} s"


@pytest.mark.parametrize(("head", "body"), [
    (b"POST /no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n", b"hello"),  # 404 first
    (b"POST /decoders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n", b"x" * 2_000_000),  # 413
    (b"POST /no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n", b"he"),  # 2 of 5 bytes
])
def test_a_connection_answered_before_its_body_then_silent_is_closed(server, head, body):
    """A request answered before its body was read (a 404, a 413 from the size limit: no token needed), its body sent
    after the answer (whole or in part), then nothing: closed. Before (review s48 F1), h11 began
    the next request cycle inside the events the late body brought, where the timer was only ever disarmed, and
    uvicorn's keep-alive timer had stopped at the body's first byte: such connections were held for good, and 20 of
    them, at a cap of 20, got every other request 503; then (review s48 N1) a body left incomplete was."""
    with connect(server.url) as sock:
        sock.sendall(head)
        assert status_line(sock).split()[1] in (b"404", b"413")
        with contextlib.suppress(OSError):  # the server may close at once after a 413 (no keep-alive then)
            sock.sendall(body)
        assert closed_by_server(sock), f"a connection silent after its late body is held after {CLOSE_WITHIN_S} s"


@pytest.mark.parametrize(("head", "part"), [
    (b"POST /decoders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
     b'{"st'),  # its app reads the body (before any token check): 2 of 100 bytes
    (b"POST /no-such-route HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
     b"5\r\nhello\r\n"),  # a chunked body is read whole first (the size limit): its end never comes
])
def test_a_body_that_stops_coming_is_closed(server, head, part):
    """Part of a body the app is reading, then nothing: closed, without a token. Before (review s48 N1), a request's
    body was never timed once its head was in: such connections were held for good, each taking one of
    http_max_connections."""
    with connect(server.url) as sock:
        sock.sendall(head + part)
        assert closed_by_server(sock), f"a body that stopped coming is still awaited after {CLOSE_WITHIN_S} s"


def test_a_body_that_comes_slowly_but_steadily_is_answered(models_dir: Path, tmp_path: Path):
    """The body timeout is between two parts of a body, not on the whole: 16 bytes, one every 0.25 s (4 s in all),
    under a 3 s timeout, are read and answered (422: no stream, no model)."""
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, recordings_dir=tmp_path,
                        http_header_timeout_s=3.0)
    body = b'{"x": 1}' + b" " * 8
    with BackgroundServer(settings) as srv, connect(srv.url) as sock:
        sock.sendall(b"POST /decoders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for byte in body:
            time.sleep(0.25)
            sock.sendall(bytes([byte]))
        status, text = read_response(sock)
    assert status == 422, text


def test_a_normal_request_is_answered(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(3):  # one connection, reused
            assert client.get("/health").status_code == 200


def test_an_idle_websocket_subscriber_is_not_closed(server):
    """A subscriber that sends nothing for three times the head timeout still receives outputs and answers a ping:
    the timeout ends with the request head (the upgrade), never a WebSocket's life."""
    name = unique("idle-ws")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(int(TINY_SFREQ * 120), seed=7), TINY_SFREQ, chunk=10)
    pusher.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru"})
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            wait_status(client, did, lambda s: s["state"] == "running", 90, f"decoder {did} running")
            # max_queue=None: the client library reads on while the test sleeps (with its bound of 16 messages it
            # stops reading, and the pong and the close wait behind the outputs the server sent meanwhile)
            with ws_connect(f"ws{server.url[4:]}/decoders/{did}/outputs", open_timeout=30, max_queue=None) as ws:
                assert "seq" in ws.recv(timeout=30)
                time.sleep(3 * HEAD_TIMEOUT_S)  # the client sends nothing (the server goes on sending outputs)
                ws.ping().wait(timeout=30)
                assert "seq" in ws.recv(timeout=30)
            assert client.delete(f"/decoders/{did}").status_code == 200
    finally:
        pusher.halt.set()
        pusher.join(timeout=30)


def test_serve_closes_a_silent_connection(tmp_path: Path):
    """``bci-stream serve`` (not only the background server of the tests) has the head timeout."""
    env = dict(os.environ, BCI_STREAM_RECORDINGS_DIR=str(tmp_path), BCI_STREAM_HTTP_HEADER_TIMEOUT_S="1")
    with serve_process(env) as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_WITHIN_S) as sock:
            assert closed_by_server(sock), f"serve holds a silent connection after {CLOSE_WITHIN_S} s"
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200


def test_connections_over_http_max_connections_get_503(models_dir: Path, tmp_path: Path):
    """With ``http_max_connections=3``: three connections open (two held by clients that have not sent a request
    yet), a request on the third is answered; a fourth connection's request gets 503, in the service's error shape
    (JSON, ``retryable``, ``Retry-After``, the setting named: before, uvicorn's plain "Service Unavailable"), and its
    connection is closed; once the held ones are closed, requests are answered again. Before, there was no cap (every
    request answered)."""
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, recordings_dir=tmp_path,
                        http_max_connections=3, max_ws_clients=2,  # (fewer WebSocket clients than connections)
                        http_header_timeout_s=600)  # the held ones stay open meanwhile
    with BackgroundServer(settings) as srv:
        held = [connect(srv.url) for _ in range(2)]
        try:
            with connect(srv.url) as third:
                third.sendall(GET)
                assert read_response(third)[0] == 200
                with connect(srv.url) as fourth:
                    fourth.sendall(GET)
                    status, headers, body = read_whole_response(fourth)
                    assert status == 503, body
                    assert headers["content-type"] == "application/json" and headers["retry-after"] == "1", headers
                    answer = json.loads(body)
                    assert answer["retryable"] is True, answer
                    assert "more than http_max_connections=3 connections are open" in answer["detail"], answer
                    assert "raise http_max_connections (BCI_STREAM_HTTP_MAX_CONNECTIONS)" in answer["detail"], answer
                    assert closed_by_server(fourth), "the refused connection was kept open"
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + CLOSE_WITHIN_S  # the server sees the closes in its own time
        while (status := httpx.get(f"{srv.url}/health", timeout=30).status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200


def _head(*lines: bytes, target: bytes = b"/health") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


@pytest.mark.parametrize("what, head", [
    ("a 40 kB header line", _head(b"X-Big: " + b"a" * 40_000)),
    ("5,000 headers", _head(*(b"X-H%d: v" % i for i in range(5000)))),
    ("a 20 kB query", _head(target=b"/health?q=" + b"a" * 20_000)),
])
def test_a_head_over_16_kib_sent_at_once_gets_431(server, what, head):
    """h11 refuses a head over its limit only while it is still arriving; one that comes whole in one read was
    answered 200 whatever its size (audit s46 S2). Now: 431, in the service's error shape."""
    with connect(server.url) as sock:
        sock.sendall(head)
        status, body = read_response(sock)
    assert status == 431, (what, body)
    assert b"request line and headers are" in body and b"the limit is 16384 bytes" in body, body


def test_heads_under_16_kib_are_answered_and_one_arriving_in_pieces_over_it_is_refused(server):
    with connect(server.url) as sock:
        sock.sendall(_head(b"Cookie: " + b"c" * 12_000))  # a big cookie, say: within the limit
        assert read_response(sock)[0] == 200
    head = _head(b"X-Big: " + b"a" * 40_000)
    with connect(server.url) as sock:  # h11's own limit (400), given explicitly
        for i in range(0, len(head), 8000):
            if select.select([sock], [], [], 0.2)[0]:  # answered already (past 16 KiB): the rest would meet a reset
                break
            sock.sendall(head[i:i + 8000])
        assert status_line(sock).split()[1] in (b"400", b"431")  # 431: the pieces came together in one read


@pytest.mark.parametrize("big, refused", [
    ([b"X-Big%d: " % i + b"a" * 7000 for i in range(3)], b"HTTP/1.1 403"),  # HeadLimit: refused before the handshake
    ([b"X-Big: " + b"a" * 40_000], b"HTTP/1.1 431"),  # the websockets library's own limit: lines of 8 KiB at most
])
def test_a_websocket_handshake_with_a_head_over_16_kib_is_refused(server, big, refused):
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
    with connect(server.url) as sock:
        sock.sendall(_head(b"Upgrade: websocket", b"Connection: Upgrade", key, b"Sec-WebSocket-Version: 13", *big,
                           target=b"/decoders/nope/outputs"))
        line = status_line(sock)
    assert line.startswith(refused), line


def test_the_access_log_cuts_long_query_strings_and_paths(tmp_path: Path):
    """Unauthenticated requests with a 4 kB query string (and a 4 kB path): each is logged with 200 characters of
    it and a mark of how many were cut (before: all 4 kB, audit s46 S2); a token is redacted before the cut."""
    secret = "cut-log-secret-4711"
    env = dict(os.environ, BCI_STREAM_RECORDINGS_DIR=str(tmp_path), BCI_STREAM_TOKEN=secret)
    query = "q=" + "a" * 4000
    with serve_process(env) as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/status?{query}", timeout=30).status_code == 401
        assert httpx.get(f"{url}/status?{'b' * 190}&token={secret}&c={'c' * 100}", timeout=30).status_code == 200
        assert httpx.get(f"{url}/decoders/{'p' * 4000}", timeout=30).status_code == 401
        assert httpx.get(f"{url}/status?token={secret}&x=1", timeout=30).status_code == 200
    text = "\n".join(lines)
    access = [line for line in text.splitlines() if '"GET /' in line]
    assert len(access) == 4, text
    assert f"/status?{query[:200]}...[+{len(query) - 200} chars] HTTP/1.1\" 401" in access[0], access[0]
    assert "token=***" in access[1] and "...[+" in access[1] and secret not in text, access[1]
    assert f"/decoders/{'p' * 190}...[+3810 chars] HTTP/1.1\" 401" in access[2], access[2]
    assert '"GET /status?token=***&x=1 HTTP/1.1" 200' in access[3], access[3]
    assert max(len(line) for line in access) < 600, access
