"""The default registry is the checkout's models/ whatever the working directory; `bci-stream models` on a missing
directory fails with its message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core import model_dirs
from bci_stream.core.model_dirs import default_calibrate_out
from bci_stream.core.settings import Settings, default_models_dir
from support.common import REPO


def test_the_default_models_dir_is_the_checkouts_from_any_directory(clean: Path) -> None:
    assert (REPO / "pyproject.toml").is_file() and (REPO / "models").is_dir()  # this runs from a checkout
    assert default_models_dir() == REPO / "models"
    assert Settings().models_dir == REPO / "models"
    res = CliRunner().invoke(main, ["models"])
    assert res.exit_code == 0, res.output
    assert "eegmmidb-s001-gru@1.0.0" in res.output


def test_models_on_a_missing_directory_exits_non_zero_with_its_message(clean: Path) -> None:
    missing = clean / "no-such-models"
    res = CliRunner().invoke(main, ["models", "--models-dir", str(missing)])
    assert res.exit_code == 2  # as every refusal (exit 1 before audit s66cli F6)
    assert f"--models-dir: models directory {missing} does not exist" in res.output
    afile = clean / "models.txt"  # a file there: said so (audit s68fault: "does not exist" in /ready and the 422s)
    afile.write_text("")
    from bci_stream.core.errors import ModelNotFoundError
    from bci_stream.core.registry import ModelRegistry

    assert ModelRegistry(afile).root_problem() == f"models directory {afile} is a file, not a folder"
    with pytest.raises(ModelNotFoundError) as exc:
        ModelRegistry(afile).get("sim-mi-gru")
    assert f"(available: none; models directory {afile} is a file, not a folder)" in str(exc.value)


def test_a_missing_directory_from_the_environment_is_not_blamed_on_the_flag(clean: Path,
                                                                             monkeypatch) -> None:
    """``--models-dir`` was named though the folder came from BCI_STREAM_MODELS_DIR (or a config file)."""
    missing = clean / "no-such-models"
    monkeypatch.setenv("BCI_STREAM_MODELS_DIR", str(missing))
    res = CliRunner().invoke(main, ["models"])
    assert res.exit_code == 2  # as every refusal (exit 1 before audit s66cli F6)
    assert f"Error: setting models_dir: models directory {missing} does not exist" in res.output, res.output


def test_outside_a_checkout_the_default_is_models_here_else_the_installs_bundled_models(clean: Path,
                                                                                      monkeypatch) -> None:
    """Audit s46 (reproducibility D6): outside a checkout the default was ``./models`` even where it did not exist
    and the install held the bundled models. ``calibrate`` never writes into the install's folder by default."""
    shipped = clean / "prefix" / model_dirs.SHIPPED_SUBDIR
    shipped.mkdir(parents=True)
    here = clean / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(model_dirs, "checkout_models_dir", lambda: None)
    monkeypatch.setattr(model_dirs, "shipped_models_dir", lambda: shipped)
    assert default_models_dir() == shipped
    assert default_calibrate_out(shipped) == here / "models"
    (here / "models").mkdir()
    assert default_models_dir() == here / "models"  # a registry of one's own comes first
    assert default_calibrate_out(here / "models") == here / "models"
    monkeypatch.setattr(model_dirs, "shipped_models_dir", lambda: None)
    assert default_models_dir() == here / "models"
