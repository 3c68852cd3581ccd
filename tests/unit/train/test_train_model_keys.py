"""``[model]`` keys the net would not follow are refused when the config is read (audit D5), naming the keys, the
rule and the values; before, ``preset``, ``hidden_sizes`` and missing power filters overrode them silently. Keys at
their defaults never refuse a config, nor does a key that says what the net is anyway."""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.train.config import ConfigError, load_config
from support.train_data import tiny_config_text

REPO = Path(__file__).resolve().parents[3]
#: The tiny config's [model] (``hidden_size = 8``, 4 power filters initialised by CSP) with its width line replaced.
WIDTH = "hidden_size = 8\n"


def _config(tmp_path: Path, model_lines: str, edit=lambda t: t) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(edit(tiny_config_text(tmp_path / "out").replace(WIDTH, model_lines)), encoding="utf-8")
    return path


PRESET = ("model: model.preset = 'stacked_lstm' sets its own layers (model.cell = 'lstm', "
          "model.hidden_sizes = [64, 32]), so {said} would be ignored (the net would be 2 LSTM layer(s) of [64, 32]): "
          "remove them, or remove model.preset and give the layers with model.cell and model.hidden_sizes")
WIDTHS = ("model: model.hidden_sizes = {sizes} gives every layer's width, and so the number of layers, "
          "so {said} would be ignored (the net would be {net}): remove them, or remove model.hidden_sizes")
CSP = ("model: model.spatial_init = 'csp' initialises the power filters, but model.power_filters = 0 "
       "({how}) makes none, so it would do nothing: set model.power_filters > 0 (e.g. 8), or remove "
       "model.spatial_init")


@pytest.mark.parametrize("lines, edit, message", [
    # the audit's: an LSTM of 64 then one of 32 was built, not a GRU of 8
    ('preset = "stacked_lstm"\ncell = "gru"\nhidden_size = 8\n', None,
     PRESET.format(said="model.cell = 'gru', model.hidden_size = 8")),
    ('preset = "stacked_lstm"\nn_layers = 3\nhidden_sizes = [32, 32]\n', None,
     PRESET.format(said="model.n_layers = 3, model.hidden_sizes = [32, 32]")),
    # the audit's: one GRU of 8 was built, not three of 128
    ('hidden_size = 128\nn_layers = 3\nhidden_sizes = [8]\n', None,
     WIDTHS.format(sizes="[8]", said="model.hidden_size = 128, model.n_layers = 3", net="1 GRU layer(s) of [8]")),
    ('cell = "lstm"\nhidden_size = 16\nhidden_sizes = [16, 8]\n', None,  # 16 is not every layer's width
     WIDTHS.format(sizes="[16, 8]", said="model.hidden_size = 16", net="2 LSTM layer(s) of [16, 8]")),
    # the audit's: CSP initialisation of no filters did nothing
    (WIDTH, lambda t: t.replace("power_filters = 4\n", ""), CSP.format(how="its default")),
    (WIDTH, lambda t: t.replace("power_filters = 4\n", "power_filters = 0\n"), CSP.format(how="set")),
    ("hidden_sizes = []\n", None, "model.hidden_sizes: List should have at least 1 item after validation, not 0 "
                                  "(got [])"),  # [] fell back to hidden_size x n_layers
], ids=["preset-vs-cell-width", "preset-vs-layers", "widths-vs-width-layers", "widths-vs-width", "csp-no-filters",
        "csp-zero-filters", "no-widths"])
def test_a_model_key_the_net_would_not_follow_is_refused(tmp_path, lines, edit, message):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, lines, edit or (lambda t: t)))
    assert message in str(err.value)


def test_the_cli_refuses_it_in_one_line_with_exit_2_before_any_work(tmp_path):
    from click.testing import CliRunner

    from bci_stream.cli import main

    path = _config(tmp_path, 'preset = "stacked_lstm"\ncell = "gru"\nhidden_size = 8\n')
    res = CliRunner().invoke(main, ["train", "--no-progress", str(path)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert res.output.startswith(f"error: config file {path} is invalid: ")
    assert PRESET.format(said="model.cell = 'gru', model.hidden_size = 8") in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lines, edit, layers", [
    ('preset = "stacked_lstm"\n', None, ("lstm", [64, 32])),  # cell, hidden_size, n_layers at their defaults
    ('preset = "stacked_lstm"\ncell = "lstm"\nn_layers = 2\nhidden_sizes = [64, 32]\n', None, ("lstm", [64, 32])),
    ("hidden_sizes = [8, 8]\nhidden_size = 8\nn_layers = 2\n", None, ("gru", [8, 8])),  # what the widths say
    ('cell = "lstm"\nhidden_sizes = [16, 8]\n', None, ("lstm", [16, 8])),
    ("hidden_size = 8\nn_layers = 2\n", None, ("gru", [8, 8])),
    (WIDTH, lambda t: t.replace('spatial_init = "csp"\n', ""), ("gru", [8])),  # power filters, random start
    (WIDTH, lambda t: t.replace("power_filters = 4\n", "").replace('spatial_init = "csp"', 'spatial_init = "random"'),
     ("gru", [8])),  # "random" changes nothing either way: not refused
])
def test_defaults_and_keys_that_agree_with_the_net_load(tmp_path, lines, edit, layers):
    torch = pytest.importorskip("torch")
    from bci_stream.train.stages import build_causal

    config = load_config(_config(tmp_path, lines, edit or (lambda t: t)))
    torch.manual_seed(0)
    net = build_causal(config, 8, 3)
    assert (net.cell, net.hidden_sizes) == layers


@pytest.mark.parametrize("path", ["configs/eegmmidb-s001.toml", "models/eegmmidb-s001-gru/report/config.toml"])
def test_the_repositorys_train_configs_still_load(path):
    config = load_config(REPO / path)
    assert (config.model.cell, config.model.hidden_size, config.model.power_filters) == ("gru", 32, 8)
