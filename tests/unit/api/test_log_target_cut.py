"""The access log's request targets are cut to 200 characters of path and of query string, after the token's
redaction (a cut never leaves part of a token)."""

from __future__ import annotations

import logging

from bci_stream.api.log_redact import LOGGED_TARGET_CHARS, TokenRedactor, shortened

SECRET = "unit-cut-secret-4711"


def _logged(target: str) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", target, "1.1", 401), None)
    assert TokenRedactor(SECRET).filter(record)
    return record.getMessage()


def test_short_targets_are_logged_whole():
    assert shortened("/status?token=***&x=1") == "/status?token=***&x=1"
    assert _logged("/decoders?x=1") == '127.0.0.1:5 - "GET /decoders?x=1 HTTP/1.1" 401'


def test_a_long_query_and_a_long_path_are_cut_each_with_a_mark():
    assert shortened("/s?" + "q" * 250) == "/s?" + "q" * LOGGED_TARGET_CHARS + "...[+50 chars]"
    assert shortened("/" + "p" * 300 + "?a=1") == "/" + "p" * 199 + "...[+101 chars]?a=1"


def test_the_token_is_redacted_before_the_cut():
    for target in (f"/status?{'b' * 195}&token={SECRET}", f"/status?q={'b' * 198}{SECRET}",
                   f"/decoders/{'p' * 190}{SECRET}"):
        line = _logged(target)
        assert "...[+" in line and SECRET[:5] not in line, line


def test_a_target_in_any_form_and_a_long_method_are_cut():
    """Absolute-form (``http://host/p``) and malformed targets get a 404 with no token, as origin-form ones do: they
    are cut as well, and so is a long method (every string of an access line is the client's). Before (review s48 F4):
    logged whole, 8 kB a line."""
    for target in ("http://127.0.0.1:8000/" + "a" * 4000 + "?q=" + "b" * 4000, "Z" * 8000 + "?q=" + "b" * 50):
        line = _logged(target)
        assert len(line) < 600 and "...[+" in line, line[:300]
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "M" * 5000, "/", "1.1", 405), None)
    assert TokenRedactor(SECRET).filter(record) and len(record.getMessage()) < 300
    error = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                              ("127.0.0.1:5", "ws://h/" + "w" * 3000), None)
    assert TokenRedactor(SECRET).filter(error) and len(error.getMessage()) < 300


def test_a_websocket_handshake_target_in_any_form_is_cut():
    """uvicorn's WebSocket handshake lines (uvicorn.error) print the target as sent: one with neither "/" nor "://",
    refused 403 with no token, was logged whole (review s48 N2: 8,071 characters)."""
    for msg, args in (('%s - "WebSocket %s" 403', ("127.0.0.1:5", "Z" * 8000 + "?q=" + "b" * 50)),
                      ('%s - "WebSocket %s" %d', ("127.0.0.1:5", "*" + "Y" * 8000, 404))):
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
        assert TokenRedactor(SECRET).filter(record) and len(record.getMessage()) < 300, record.getMessage()[:200]
    other = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application: %s",
                              ("x" * 500,), None)  # not a request's line: left whole
    assert TokenRedactor(SECRET).filter(other) and len(other.getMessage()) > 500
