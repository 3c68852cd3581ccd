"""Every error answer the API gives is declared for its route in ``/openapi.json``, with a body of the declared shape
(found by an exploratory run: no route declared 401, 404, 409, 413, 503 or 504, and ``GET /models/{ref}`` declared a
422 but answered 404). A real server with a token; each request below really gets the answer it checks."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import unique

TOKEN = "openapi-errors-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, token=TOKEN,
                        recordings_dir=tmp_path_factory.mktemp("recordings"), max_request_bytes=4096)
    with BackgroundServer(settings) as srv:
        yield srv


def _declared(schema: dict, method: str, path: str, code: int) -> dict:
    """The schema of the response ``code`` declared for ``method path`` (``path`` as the schema writes it), with the
    schema's components beside it (to resolve its references)."""
    op = schema["paths"][path][method.lower()]
    assert str(code) in op["responses"], f"{method} {path}: {code} is not declared ({sorted(op['responses'])})"
    return {**op["responses"][str(code)]["content"]["application/json"]["schema"], "components": schema["components"]}


def test_each_error_answer_is_declared_for_its_route_with_its_shape(server):
    import jsonschema

    schema = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    with httpx.Client(base_url=server.url, timeout=60) as c:
        waiting = c.post("/decoders", headers=AUTH, json={"stream": {"name": unique("oa-never")}, "model": "tiny-gru",
                                                          "options": {"resolve_timeout": 60}})
        assert waiting.status_code == 201, waiting.text
        did = waiting.json()["id"]
        big = b'{"stream": {"name": "x"}, "model": "' + b"x" * 5000 + b'"}'
        cases = [
            ("GET", "/status", "/status", {}, None, 401),
            ("GET", "/models", "/models", {}, None, 401),
            ("GET", "/models/nope", "/models/{ref}", AUTH, None, 404),
            ("GET", "/decoders/nope", "/decoders/{decoder_id}", AUTH, None, 404),
            ("GET", "/decoders/nope/latency", "/decoders/{decoder_id}/latency", AUTH, None, 404),
            ("DELETE", "/recordings/nope", "/recordings/{recording_id}", AUTH, None, 404),
            ("POST", f"/decoders/{did}/reset", "/decoders/{decoder_id}/reset", AUTH, None, 409),
            ("GET", f"/decoders/{did}/state", "/decoders/{decoder_id}/state", AUTH, None, 409),
            ("PUT", f"/decoders/{did}/model", "/decoders/{decoder_id}/model", AUTH, {"model": "tiny-gru"}, 409),
            ("POST", "/decoders", "/decoders", AUTH, big, 413),
            ("POST", "/decoders", "/decoders", AUTH, {"stream": {"name": "x"}, "model": "tiny-gru",
                                                      "options": {"placement": {"node_id": "ab"}}}, 422),
        ]
        for method, url, path, headers, body, code in cases:
            kwargs = {"content": body, "headers": {**headers, "content-type": "application/json"}} \
                if isinstance(body, bytes) else {"json": body, "headers": headers}
            r = c.request(method, url, **({"headers": headers} if body is None else kwargs))
            assert r.status_code == code, (method, url, r.status_code, r.text)
            jsonschema.validate(r.json(), _declared(schema, method, path, code))
        assert c.delete(f"/decoders/{did}", headers=AUTH).status_code == 200
