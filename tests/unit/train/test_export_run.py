"""``bci-stream export RUN_DIR``: a run trained with ``--no-export`` is exported later as ``train --export`` would
have exported it (audit s61train F10: before, only by training the whole config again). A real tiny run on the
repository's S001 subset (copied, so a changed training file can be shown refused), real ONNX files compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402

from bci_stream.cli import main  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402

RUNS = ("S001R05.edf", "S001R06.edf", "S001R10.edf")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A run trained and exported by ``train --export``; its run folder, its model folder and a copy of that model
    (the export of record), the model folder then removed."""
    root = tmp_path_factory.mktemp("export_run")
    data = root / "data"
    data.mkdir()
    for run in RUNS:
        shutil.copy(subset_file(S001 / run), data / run)
    text = tiny_config_text(root / "run", export_dir=root / "models" / "tiny", bidirectional=False, lookaheads="[]",
                            extra="csp_lda = true\n[evaluation.distillation]\nenabled = false")
    (cfg := root / "run.toml").write_text(text.replace(f'root = "{S001}"', f'root = "{data}"'), encoding="utf-8")
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(cfg), "--export"])
    assert res.exit_code == 0, res.output
    shutil.copytree(root / "models" / "tiny", root / "of_record")
    shutil.rmtree(root / "models" / "tiny")
    return root / "run", root / "models" / "tiny", root / "of_record"


def _outputs(folder: Path) -> np.ndarray:
    """The exported step graph's outputs over 400 samples of noise, its state carried (real onnxruntime)."""
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.offline import decode_offline

    entry = ModelRegistry(folder.parent).get(json.loads((folder / "model.json").read_text())["name"])
    x = np.random.default_rng(0).normal(0.0, 20.0, (400, len(entry.card.ch_names))).astype(np.float32)
    return decode_offline(entry, x)


def test_a_run_is_exported_later_as_train_would_have(exported) -> None:
    run, model, of_record = exported
    res = CliRunner().invoke(main, ["export", str(run)])
    assert res.exit_code == 0, res.output
    assert f"exported tiny-s001-gru@1.0.0 to {model}" in res.output
    now, then = (json.loads((p / "model.json").read_text()) for p in (model, of_record))
    assert now["training"] == then["training"] and now["metrics"] == then["metrics"], "the card describes the run"
    assert now["output"] == then["output"] and now["ch_names"] == then["ch_names"]
    assert np.array_equal(_outputs(model), _outputs(of_record))  # the run's own net, not another one
    assert json.loads((run / "report.json").read_text())["export"]["ref"] == "tiny-s001-gru@1.0.0"

    again = CliRunner().invoke(main, ["export", str(run)])  # a model there: refused, unless --overwrite
    assert again.exit_code == 2 and f"already holds a model (tiny-s001-gru@1.0.0 (sha256 {now['sha256'][:12]}…)); " \
        "pass --overwrite" in again.output, again.output  # named, as train and calibrate name it
    assert CliRunner().invoke(main, ["export", str(run), "--overwrite"]).exit_code == 0


def test_a_folder_that_is_no_finished_run_or_whose_data_changed_is_refused(exported, tmp_path: Path) -> None:
    run, _, _ = exported
    res = CliRunner().invoke(main, ["export", str(tmp_path)])
    assert res.exit_code == 2 and "must be the run folder of a finished `bci-stream train` run" in res.output
    assert "checkpoint.pt" in res.output
    res = CliRunner().invoke(main, ["export", str(tmp_path / "nosuch")])  # before: "it lacks config.json, ..."
    assert res.exit_code == 2 and f"RUN_DIR {tmp_path / 'nosuch'} does not exist" in res.output, res.output
    changed = tmp_path / "run"
    shutil.copytree(run, changed)
    config = json.loads((changed / "config.json").read_text())
    data = Path(config["base_dir"]) / config["data"]["root"]
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    raw = bytearray((copy / "S001R05.edf").read_bytes())
    raw[-1001] ^= 0xFF  # one byte of one sample
    (copy / "S001R05.edf").write_bytes(bytes(raw))
    config["data"]["root"] = str(copy)  # the run's config as train resolved it, which export reads
    (changed / "config.json").write_text(json.dumps(config))
    res = CliRunner().invoke(main, ["export", str(changed), "--overwrite"])
    assert res.exit_code == 2 and f"training file {copy / 'S001R05.edf'} (train) is not the file the run" in \
        res.output, res.output
    cut = tmp_path / "cut"  # its checkpoint cut short: said first (before the data is read), of the run, not a MODEL
    shutil.copytree(run, cut)
    (cut / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes()[:5000])
    res = CliRunner().invoke(main, ["export", str(cut), "--overwrite"])
    assert res.exit_code == 2 and "reading the run's data again" not in res.output, res.output
    assert (f"checkpoint {cut / 'checkpoint.pt'} is not a readable torch checkpoint (cut short or corrupt?): " in
            res.output and "(the run's checkpoint; train again to have it again)" in res.output), res.output
    assert "MODEL" not in res.output, res.output  # (audit s70model F7: export takes no MODEL)


def test_a_run_whose_config_gives_every_layers_width_is_exported(tmp_path: Path) -> None:
    """``model.hidden_sizes`` (or ``preset``) beside ``hidden_size``: train accepts the file that gives one of them,
    but ``config.json`` holds every key, defaults included, and read back it was refused (a traceback, exit 1: review
    s62 F1). The run's own ``config.toml`` is read as train read it; the card's config is train's, ``output.dir``
    included (review s62 F2). An older run, with no ``training_files.json``, is said to be one (review s62 F6). A
    ``preset`` config read back as export reads it (no training: the round trip of its keys, review s62b F2)."""
    text = tiny_config_text(tmp_path / "run", export_dir=tmp_path / "models" / "tiny", bidirectional=False,
                            lookaheads="[]", extra="[evaluation.distillation]\nenabled = false")
    (cfg := tmp_path / "run.toml").write_text(text.replace("hidden_size = 8", "hidden_sizes = [8, 8]"))
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(cfg), "--no-export", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["export", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "models" / "tiny" / "model.json").read_text())
    assert card["training"]["model_config"]["hidden_sizes"] == [8, 8], card["training"]["model_config"]
    assert card["training"]["config"]["output"]["dir"] == "r"  # train --out, as train's card would say it
    (tmp_path / "r" / "training_files.json").unlink()
    res = CliRunner().invoke(main, ["export", str(tmp_path / "r"), "--overwrite"])
    assert res.exit_code == 2 and "was trained by an older bci-stream" in res.output, res.output


@pytest.mark.parametrize("model", ['hidden_sizes = [8, 8]', 'preset = "stacked_lstm"', 'hidden_size = 8\nn_layers = 2'])
def test_a_config_json_is_read_back_with_the_keys_its_file_set(tmp_path: Path, model: str) -> None:
    """``config.json`` (train writes every key, defaults included) read back by export as the run's config: a run
    trained from Python has no ``config.toml`` to read instead (review s62b F2)."""
    from bci_stream.train.config import parse_config
    from bci_stream.train.export_run import _run_config

    import tomllib

    raw = tomllib.loads(tiny_config_text(tmp_path / "run").replace("hidden_size = 8", model))
    config = parse_config(raw, tmp_path)
    (tmp_path / "config.json").write_text(config.model_dump_json(indent=2))
    again = _run_config(tmp_path)
    assert again.model_dump() == config.model_dump()
