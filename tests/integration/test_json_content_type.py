"""A JSON body sent with another content type is refused naming the content type received and the one required.

Found by an audit: ``curl -d '{"stream": ...}'`` sends ``application/x-www-form-urlencoded``; FastAPI reads a body
as JSON only under ``application/json`` or ``application/<name>+json``, so the body reached validation as its raw
text and the 422 said "Input should be a valid dictionary or object to extract fields from", which did not name the
content type. Every route that takes a JSON body, on a real server; JSON under ``application/json; charset=utf-8``
and ``application/<name>+json`` still works.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import unique

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1,
                        recordings_dir=tmp_path_factory.mktemp("recordings"))
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def waiting(client: httpx.Client):
    """A decoder waiting for a stream that never comes (its routes take bodies), created with a JSON body sent as
    ``application/json; charset=utf-8``."""
    body = json.dumps({"stream": {"name": unique("ct-never")}, "model": "tiny-gru",
                       "options": {"resolve_timeout": 120}})
    r = client.post("/decoders", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    yield r.json()["id"]
    client.delete(f"/decoders/{r.json()['id']}")


def _bodies(decoder_id: str) -> list[tuple[str, str, dict]]:
    """(method, path, a valid JSON body) of every route that takes a JSON body."""
    return [
        ("POST", "/decoders", {"stream": {"name": unique("ct-x")}, "model": "tiny-gru"}),
        ("PUT", f"/decoders/{decoder_id}/model", {"model": "tiny-gru"}),
        ("PUT", f"/decoders/{decoder_id}/state", {"arrays": {}, "model": {"sha256": "0" * 64}}),
        ("POST", "/recordings", {"stream": {"name": unique("ct-x")}, "out": "ct.xdf"}),
    ]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"])
def test_a_json_body_sent_as_another_content_type_is_refused_naming_it(client, waiting, content_type):
    """curl's ``-d`` default, text/plain, XML: 422 with one error on ``body`` naming the content type received and
    ``application/json``; nothing was started (no decoder, no recording)."""
    decoders, recordings = len(client.get("/decoders").json()), client.get("/recordings").json()
    for method, path, body in _bodies(waiting):
        r = client.request(method, path, content=json.dumps(body), headers={"content-type": content_type})
        assert r.status_code == 422, (method, path, r.text)
        detail = r.json()["detail"]
        assert detail == [{"type": "content_type", "loc": ["body"], "msg": (
            "the request body must be JSON sent with Content-Type: application/json (or application/<name>+json), "
            f"got Content-Type '{content_type}'")}], (method, path, detail)
    assert len(client.get("/decoders").json()) == decoders
    assert client.get("/recordings").json() == recordings


def test_a_json_body_sent_without_content_type_is_refused_naming_that(client, waiting):
    """No Content-Type at all: the error says so (FastAPI reads such a body as JSON no more)."""
    for method, path, body in _bodies(waiting):
        r = client.request(method, path, content=json.dumps(body))  # httpx sends no Content-Type with content=
        assert r.status_code == 422, (method, path, r.text)
        assert r.json()["detail"][-1]["msg"].endswith("got no Content-Type header"), r.text


def test_json_with_a_charset_or_a_plus_json_type_is_still_read(client, waiting):
    """``application/json; charset=utf-8`` (the decoder of the fixture was created so) and ``application/*+json``:
    the body is read as JSON, whatever is wrong with it is named by field, and the request is acted on."""
    r = client.put(f"/decoders/{waiting}/model", content=json.dumps({"model": "tiny-gru"}),
                   headers={"content-type": "application/vnd.bci-stream+json"})
    assert r.status_code == 409 and r.json()["retryable"] is True, r.text  # read: the decoder is not running yet
    r = client.post("/recordings", content=json.dumps({"stream": {"name": "x"}, "out": "../up.xdf"}),
                    headers={"content-type": "application/merge-patch+json; charset=utf-8"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "out"], r.text
    r = client.post("/decoders", content=json.dumps({"stream": {"name": "x"}}),
                    headers={"content-type": "Application/JSON; charset=UTF-8"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model"], r.text
