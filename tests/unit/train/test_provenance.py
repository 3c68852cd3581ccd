"""Every exported card says what made it (audit s46 of reproducibility: a calibrate card held no tool version,
commit or library version, and the package version has been 0.1.0 throughout): ``training.provenance`` holds the
package version, a digest of its source, the Python version, the CPU architecture and the installed libraries that
decide a fit or an export, and nothing machine-specific."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from bci_stream.core.registry import ModelRegistry
from bci_stream.train.export.provenance import package_digest, portable, provenance


def test_an_exported_card_holds_its_provenance(models_dir: Path) -> None:
    card = ModelRegistry(models_dir).get("tiny-gru").card
    prov = card.training["provenance"]
    assert prov["source_sha256"] == package_digest() and len(prov["source_sha256"]) == 64
    assert prov["libraries"]["numpy"] == metadata.version("numpy")
    assert prov["libraries"]["onnx"] == metadata.version("onnx") and "torch" in prov["libraries"]
    text = json.dumps(prov)
    assert str(Path.home()) not in text and "/work" not in text and "/tmp" not in text


def test_the_source_digest_is_of_the_code_not_of_where_it_lies(tmp_path: Path) -> None:
    for where in ("a", "b"):
        (tmp_path / where / "pkg").mkdir(parents=True)
        (tmp_path / where / "pkg" / "m.py").write_text("x = 1\n")
    assert package_digest(tmp_path / "a") == package_digest(tmp_path / "b")
    (tmp_path / "b" / "pkg" / "m.py").write_text("x = 2\n")
    assert package_digest(tmp_path / "a") != package_digest(tmp_path / "b")
    assert set(provenance()) == {"bci_stream", "source_sha256", "python", "machine", "libraries"}


def test_paths_that_travel_with_a_model_are_made_portable(monkeypatch, tmp_path: Path) -> None:
    """audit s46: train cards held ``/work/shared/data/...`` and the run's output folders, calibrate's report.json
    the files' and model folder's absolute paths; the bundled models carried them into every install."""
    data = tmp_path / "data"
    monkeypatch.setenv("BCI_STREAM_DATA", str(data))
    assert portable(str(data / "eegmmidb" / "S001")) == "${BCI_STREAM_DATA}/eegmmidb/S001"
    assert portable(str(Path.home() / "runs" / "a.toml")) == "~/runs/a.toml"
    assert portable("/srv/lab/out/models") == "models"
    assert portable("relative/run.toml") == "relative/run.toml" and portable(3) == 3 and portable(None) is None
    assert portable(f"bci-stream train /srv/cfg/run.toml --out {data}/x --export") == \
        "bci-stream train run.toml --out ${BCI_STREAM_DATA}/x --export"
    nested = portable({"data": {"root": str(data / "S1")}, "dirs": ["/a/b"]})
    assert nested == {"data": {"root": "${BCI_STREAM_DATA}/S1"}, "dirs": ["b"]}
