"""Run-config checks made when the TOML is loaded (before any data is read): each error names the key, the rule
and the bad value, and `bci-stream train` exits 2 with one line, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bci_stream.train.config import ConfigError, load_config
from support.train_data import S001, tiny_config_text


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _config(tmp_path: Path, edit=lambda t: t) -> Path:
    return _write(tmp_path, edit(tiny_config_text(tmp_path / "out")))


# -- finding 1: one file in two splits under different spellings --------------------------------------

@pytest.mark.parametrize("spelling", ["./S001R05.edf", "../S001-21ch/S001R05.edf", "{root}/S001R05.edf",
                                      "{link}"])
def test_a_file_in_train_and_test_is_refused_however_it_is_spelled(tmp_path, spelling):
    link = tmp_path / "r05-link.edf"
    os.symlink(S001 / "S001R05.edf", link)
    test = spelling.format(root=S001, link=link)
    path = _config(tmp_path, lambda t: t.replace('test = ["S001R10.edf"]', f'test = ["{test}"]'))
    with pytest.raises(ConfigError, match=rf"data.test: file '{test}' is the same file as 'S001R05.edf' in "
                                          r"data.train \(splits must not share a file\)"):
        load_config(path)


def test_tail_files_are_matched_to_train_files_as_files(tmp_path):
    ok = load_config(_config(tmp_path, lambda t: t.replace('tail_files = ["S001R06.edf"]',
                                                           'tail_files = ["./S001R06.edf"]')))
    assert ok.data.tail_files == ["./S001R06.edf"]
    with pytest.raises(ConfigError, match=r"data.tail_files \['S001R09.edf'\] are not in data.train"):
        load_config(_config(tmp_path, lambda t: t.replace('tail_files = ["S001R06.edf"]',
                                                          'tail_files = ["S001R09.edf"]')))


# -- findings 3 and 22: at least two trial classes; "" means "ignore this event" -----------------------

def test_fewer_than_two_trial_classes_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"data: data.trial_classes must give at least 2 trial classes "
                                          r"\(a trial accuracy needs a choice\), got \['fists'\]"):
        load_config(_config(tmp_path, lambda t: t.replace('trial_classes = ["fists", "feet"]',
                                                          'trial_classes = ["fists"]')))
    one = lambda t: t.replace('label_map = { T0 = "rest", T1 = "fists", T2 = "feet" }',  # noqa: E731
                              'label_map = { T1 = "fists", T2 = "" }').replace('trial_classes = ["fists", "feet"]', "")
    with pytest.raises(ConfigError, match=r"data.label_map must give at least 2 trial classes .*got \['fists'\]"):
        load_config(_config(tmp_path, one))


def test_an_empty_class_name_in_the_label_map_means_ignore_the_event(tmp_path):
    cfg = load_config(_config(tmp_path, lambda t: t.replace('T0 = "rest"', 'T0 = ""')))
    assert cfg.data.label_map == {"T0": None, "T1": "fists", "T2": "feet"}


# -- finding 7: export.model = "student" without a student -----------------------------------------------

@pytest.mark.parametrize("extra, got", [
    ("[evaluation.distillation]\nenabled = false", "distillation.enabled = false, bidirectional = true"),
    ("", "distillation.enabled = true, bidirectional = false"),
])
def test_export_of_the_student_needs_distillation_and_its_teacher(tmp_path, extra, got):
    text = tiny_config_text(tmp_path / "out", bidirectional=not got.endswith("false"), extra=extra)
    text = text.replace('name = "tiny-s001-gru"', 'name = "tiny-s001-gru"\nmodel = "student"')
    with pytest.raises(ConfigError, match=r"is invalid: export.model = 'student' needs a student: set "
                                          r"evaluation.distillation.enabled = true and evaluation.bidirectional = "
                                          rf"true \(its teacher\), got {got}$"):
        load_config(_write(tmp_path, text))


# -- findings 13 and 14: filter bands, export name and version ----------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("[model]", "[preprocessing]\nbandpass = [30.0, 8.0]\n\n[model]"),
     r"preprocessing.bandpass: must be \[low_hz, high_hz\] with 0 < low_hz < high_hz \(finite\) "
     r"\(got \[30.0, 8.0\]\)"),
    (lambda t: t.replace("[model]", "[preprocessing]\nbandpass = [0.0, 30.0]\n\n[model]"),
     r"preprocessing.bandpass: must be \[low_hz, high_hz\] with 0 < low_hz < high_hz"),
    (lambda t: t.replace("csp_components = 2", "csp_components = 2\ncsp_band = [30.0, 8.0]"),
     r"evaluation.csp_band: must be \[low_hz, high_hz\]"),
    (lambda t: t.replace('name = "tiny-s001-gru"', 'name = "tiny-s001-gru"\nversion = "not a version!"'),
     r"export.version: String should match pattern .* \(got 'not a version!'\)"),
    (lambda t: t.replace('name = "tiny-s001-gru"', 'name = "tiny s001"'),
     r"export.name: String should match pattern .* \(got 'tiny s001'\)"),
    (lambda t: t.replace('name = "tiny-s001-gru"', 'name = ".."'),  # a folder outside the export dir
     r"export.name: String should match pattern .* \(got '\.\.'\)"),
])
def test_bad_filter_bands_and_export_identity_are_config_errors(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, edit))


# -- finding 18: label_window and [data.reader] ------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("crop_s = [0.0, 40.0]", "crop_s = [0.0, 40.0]\nlabel_window = [2.0, 1.0]"),
     r"data.label_window: must be \[start_s, stop_s\] after each event onset, finite, with "
     r"start_s < stop_s \(got \[2.0, 1.0\]\)"),
    (lambda t: t.replace("\n[model]", '\n[data.reader]\nlabel_window = [0, 1]\n\n[model]'),
     r"data.reader: 'label_window' is not a reader option: set data.label_window instead"),
])
def test_label_window_and_reader_options_are_checked(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, edit))
    ok = load_config(_config(tmp_path, lambda t: t.replace(
        "crop_s = [0.0, 40.0]", "crop_s = [0.0, 40.0]\nlabel_window = [0.5, 2.5]").replace(
        "\n[model]", '\n[data.reader]\nuntil_next = true\n\n[model]')))
    assert ok.data.label_window == (0.5, 2.5) and ok.data.reader == {"until_next": True}


def test_the_cli_reports_a_config_error_in_one_line_with_exit_2(tmp_path):
    from click.testing import CliRunner

    from bci_stream.cli import main

    path = _config(tmp_path, lambda t: t.replace('test = ["S001R10.edf"]', 'test = ["./S001R05.edf"]'))
    res = CliRunner().invoke(main, ["train", "--no-progress", str(path)])
    assert res.exit_code == 2
    assert "error: config file" in res.output and "is the same file as 'S001R05.edf' in data.train" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
