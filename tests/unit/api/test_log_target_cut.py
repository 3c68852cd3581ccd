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
