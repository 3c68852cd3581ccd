"""``GET /models`` and ``GET /models/{ref}`` say of each model whether a decoder can load it (``problem``: why not, in
the words ``/ready`` lists in ``model_problems``; null when it can). Before, a model no decoder could load (a
truncated ONNX file, a card unit that is no voltage) was listed as an ordinary entry while ``/ready`` listed it as a
problem and starting a decoder on it was refused (audit s59api F2): a client choosing from the list could not tell."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings


def _copy(models_dir: Path, root: Path, name: str, **card_fields) -> Path:
    folder = root / name
    shutil.copytree(models_dir / "tiny-gru", folder)
    card = json.loads((folder / "model.json").read_text())
    card.update(name=name, **card_fields)
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def test_each_listed_model_says_whether_a_decoder_can_load_it(models_dir, tmp_path):
    root = tmp_path / "models"
    _copy(models_dir, root, "tiny-gru")
    truncated = _copy(models_dir, root, "tiny-truncated")
    onnx = truncated / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    _copy(models_dir, root, "tiny-counts", unit="counts")
    empty = _copy(models_dir, root, "tiny-empty", sha256=hashlib.sha256(b"").hexdigest())  # its card matches its file
    (empty / "model.onnx").write_bytes(b"")  # (before: listed as loadable, /ready 200 on it alone: audit s63fault F2)
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=root)) as srv, \
            httpx.Client(base_url=srv.url, timeout=60.0) as c:
        listed = {m["name"]: m for m in c.get("/models").json()["models"]}
        ready = c.get("/ready").json()
        refused = c.post("/decoders", json={"stream": {"name": "x"}, "model": "tiny-counts"})
        one, fine = c.get("/models/tiny-counts").json(), c.get("/models/tiny-gru@1.0.0").json()
    assert set(listed) == {"tiny-gru", "tiny-truncated", "tiny-counts", "tiny-empty"}, listed
    assert listed["tiny-empty"]["problem"] == (f"model 'tiny-empty@1.0.0': {empty / 'model.onnx'} is not an ONNX model "
                                               "this service reads (it holds no graph (field 7 of an ONNX ModelProto): "
                                               "it is empty)"), listed["tiny-empty"]
    assert listed["tiny-gru"]["problem"] is None and listed["tiny-gru"]["n_chans"] == 8
    assert "sha256" in listed["tiny-truncated"]["problem"], listed["tiny-truncated"]
    assert "'counts' is not a voltage unit" in listed["tiny-counts"]["problem"], listed["tiny-counts"]
    assert sorted(ready["model_problems"]) == sorted(m["problem"] for m in listed.values() if m["problem"]), ready
    assert refused.status_code == 422 and listed["tiny-counts"]["problem"] in refused.text, refused.text
    assert one["problem"] == listed["tiny-counts"]["problem"] and fine["problem"] is None, (one, fine)


def test_a_version_in_two_folders_with_other_files_is_a_conflict_not_a_malformed_request(models_dir, tmp_path):
    """``GET /models/{ref}`` of a ``NAME@VERSION`` two folders hold with other files: 409 with the twins' problem (the
    list's and ``/ready``'s words), as ``/openapi.json`` declares it; before, a 422 with a text ``detail``, where the
    API's 422 is a list naming a field of the request (audit s66model F1)."""
    root = tmp_path / "models"
    _copy(models_dir, root, "tiny-gru")
    twin = root / "tiny-gru-retrained"
    shutil.copytree(models_dir / "tiny-lstm", twin)
    card = json.loads((twin / "model.json").read_text())
    (twin / "model.json").write_text(json.dumps({**card, "name": "tiny-gru", "version": "1.0.0"}))
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=root)) as srv, \
            httpx.Client(base_url=srv.url, timeout=60.0) as c:
        listed = c.get("/models").json()["models"]
        answers = [c.get(f"/models/{ref}") for ref in ("tiny-gru", "tiny-gru@1.0.0")]
        declared = c.get("/openapi.json").json()["paths"]["/models/{ref}"]["get"]["responses"]
    problem = listed[0]["problem"]
    assert problem.startswith("model tiny-gru@1.0.0 is in 2 folders with different files"), listed
    for r in answers:
        assert r.status_code == 409 and r.json() == {"detail": problem}, r.text
    assert "409" in declared and "several folders" in declared["409"]["description"], declared
