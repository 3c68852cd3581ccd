"""A model author's own folders in the registry (audit s41_byom): a format-1 card written without
``format_version``, a graph without its card, a folder named otherwise than its card, a corrupt ONNX file. ``GET
/ready`` (real uvicorn), ``POST /decoders`` and ``bci-stream models`` say each, in the same words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bci_stream.api.server import BackgroundServer
from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings

FORMAT1_KEYS = ("name", "version", "sha256", "created", "architecture", "n_chans", "ch_names", "sfreq", "unit",
                "preprocessing", "output")


@pytest.fixture()
def registry(tmp_path: Path, models_dir: Path) -> Path:
    """tiny-gru (good), ``nofv`` (a format-1 card without format_version), ``nocard`` (model.onnx, no card),
    ``wrongname`` (tiny-gru's files, its card named ``tiny-other``) and ``corrupt`` (its ONNX file cut short)."""
    root = tmp_path / "models"
    good = models_dir / "tiny-gru"
    for name in ("tiny-gru", "nofv", "nocard", "wrongname", "corrupt"):
        shutil.copytree(good, root / name)
    card = json.loads((good / "model.json").read_text())
    fmt1 = {k: card[k] for k in FORMAT1_KEYS} | {"name": "nofv", "inputs": ["x", "h0"], "outputs": ["y", "hn"]}
    (root / "nofv" / "model.json").write_text(json.dumps(fmt1))  # no format_version, no step: format 1
    (root / "nocard" / "model.json").unlink()
    (root / "wrongname" / "model.json").write_text(json.dumps({**card, "name": "tiny-other"}))
    (root / "corrupt" / "model.json").write_text(json.dumps({**card, "name": "corrupt"}))
    onnx = root / "corrupt" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:200])
    return root


def expected_problems(root: Path) -> list[str]:
    return [
        f"model folder {root / 'nocard'} holds model.onnx but no model.json card ({root / 'nocard' / 'model.json'} "
        "does not exist): no decoder can load it; write its card (a format-1 card, then `bci-stream upgrade-model "
        "DIR`, for your own export) or remove the folder",
        "model 'corrupt@1.0.0': sha256 of",
        f"model 'nofv@1.0.0' is card format 1 without a step graph; upgrade its folder with `bci-stream upgrade-model "
        f"{root / 'nofv'}` (needs the train extra)",
    ]


def test_ready_lists_each_folder_no_decoder_can_load_and_post_says_why(registry: Path) -> None:
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=registry)) as srv, \
            httpx.Client(base_url=srv.url) as c:
        body = c.get("/ready").json()
        assert body["ready"] and body["models"] == 2, body  # tiny-gru, and tiny-other in folder wrongname
        problems = body["model_problems"]
        assert len(problems) == 3, problems
        for got, want in zip(problems, expected_problems(registry)):
            assert got.startswith(want), (got, want)
        r = c.post("/decoders", json={"stream": {"name": "s41c-nobody"}, "model": "nofv"})
        assert r.status_code == 422 and "card format 1 without a step graph" in r.text, r.text
        r = c.post("/decoders", json={"stream": {"name": "s41c-nobody"}, "model": "nocard"})
        assert r.status_code == 422, r.text
        assert f"model folder {registry / 'nocard'} holds model.onnx but no model.json card" in r.text, r.text
        r = c.post("/decoders", json={"stream": {"name": "s41c-nobody"}, "model": "wrongname"})
        assert r.status_code == 422, r.text
        assert (f"folder {registry / 'wrongname'} holds model 'tiny-other@1.0.0': its card's name is 'tiny-other', "
                "not 'wrongname' (a model is asked for by its card's name: ask for 'tiny-other', or set the card's "
                "name to 'wrongname')") in r.text, r.text


def test_models_command_lists_the_problems_ready_lists(registry: Path) -> None:
    res = CliRunner().invoke(main, ["models", "--models-dir", str(registry)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    listed = [line for line in lines if not line.startswith("problem: ")]
    assert [line.split()[0] for line in listed] == ["corrupt@1.0.0", "nofv@1.0.0", "tiny-gru@1.0.0",
                                                    "tiny-other@1.0.0"]
    assert [("CANNOT LOAD" in line) for line in listed] == [True, True, False, False]
    problems = [line.removeprefix("problem: ") for line in lines if line.startswith("problem: ")]
    assert len(problems) == 3, problems
    for got, want in zip(problems, expected_problems(registry)):
        assert got.startswith(want), (got, want)
    checked, scan_problems = ModelRegistry(registry).checked()  # the very words /ready gives
    assert problems == scan_problems + [why for _, why in checked if why]
