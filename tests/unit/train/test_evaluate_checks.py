"""`bci-stream evaluate` on real EEG (the repository's S001 subset): the report labels lookahead and bidirectional
checkpoints, --trial-classes and --labels are checked against the model's classes (the label map by class name, in
any order), an edited card is refused, and files the model was trained on are flagged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from click.testing import CliRunner  # noqa: E402

from bci_stream.cli import main  # noqa: E402
from bci_stream.core.errors import ModelError  # noqa: E402
from bci_stream.train.evaluate.in_sample import card_training_files, in_sample_warnings  # noqa: E402
from bci_stream.train.evaluate.offline import check_classes, evaluate_target, write_evaluation  # noqa: E402
from support.common import REPO, SUBSET_S001, SUBSET_S001_21CH, subset_file  # noqa: E402

GRU = REPO / "models" / "eegmmidb-s001-gru"  # the bundled model: 21 channels, rest/fists/feet, trained on R06/R05/R09
R05, R10 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R10.edf"
LABELS = {"T0": "rest", "T1": "fists", "T2": "feet"}


def copy_with_card(tmp_path: Path, edit) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(GRU, dst)
    card = json.loads((dst / "model.json").read_text())
    edit(card)
    (dst / "model.json").write_text(json.dumps(card))
    return dst


# -- finding 8: what the report says about the checkpoint's causality ---------------------------------------

def _checkpoint(path: Path, lookahead: int | None | str, run: str = "no-such-run") -> Path:
    """A real checkpoint file of a random-weight net on 3 channels: CausalRNN ("causal") or BiRNN(lookahead)."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.checkpoint import save_checkpoint
    from bci_stream.train.nets.birnn import BiRNN
    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(0)
    net = (CausalRNN(3, 3, hidden_size=4) if lookahead == "causal" else
           BiRNN(3, 3, hidden_size=4, lookahead=lookahead))
    meta = {"ch_names": ["C3..", "Cz..", "C4.."], "sfreq": 160.0, "label_names": ["rest", "fists", "feet"],
            "preprocessing": PreprocessingConfig(bandpass=(8.0, 30.0)).model_dump(), "label_map": LABELS,
            "trial_classes": ["fists", "feet"], "run": run}
    save_checkpoint(path, net.eval(), meta)
    return path


@pytest.mark.parametrize(("stage", "lookahead", "row", "latency"), [
    ("causal", "causal", "| causal | 0 (causal) |", 0.0),
    ("lookahead_8", 8, "| lookahead_8 | 50 ms (K=8) |", 50.0),
    ("bidirectional", None, "| bidirectional | ∞", None),
])
def test_the_report_labels_lookahead_and_bidirectional_checkpoints(tmp_path, stage, lookahead, row, latency):
    ckpt = _checkpoint(tmp_path / "checkpoints" / f"{stage}.pt", lookahead)
    res = evaluate_target(str(ckpt), [subset_file(R10)])
    assert (res["causal"], res["added_latency_ms"]) == (lookahead == "causal", latency)
    write_evaluation(res, tmp_path / "out")
    md = (tmp_path / "out" / "evaluation.md").read_text()
    assert row in md, md
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["models"][stage]["lookahead"] == (
        0 if lookahead == "causal" else lookahead)


# -- finding 15: --trial-classes ------------------------------------------------------------------------------

def test_a_trial_class_the_model_does_not_output_is_a_clear_error_exit_2():
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)),
                                    "--trial-classes", "fists,hands"])
    assert res.exit_code == 2, res.output
    assert "--trial-classes: 'hands' is not an output of the model (rest, fists, feet)" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(R10), "--trial-classes", "fists"])
    assert res.exit_code == 2 and "must be at least 2 distinct classes, got ['fists']" in res.output


def test_too_few_trial_classes_name_the_map_they_come_from() -> None:
    """Audit s43, F6: "trial classes (the label map's classes)" did not say whether --labels or the model's map."""
    with pytest.raises(ModelError, match=r"^trial classes \(the classes label_map \(--labels\) maps to\) must be at "
                                         r"least 2 distinct classes, got \['fists'\]$"):
        check_classes(["fists", "feet"], {"T1": "fists", "T2": None}, None, None)
    with pytest.raises(ModelError, match=r"^trial classes \(the classes of the model's label map\) must be"):
        check_classes(["fists", "feet"], {"T1": "fists"}, None, None, given=False)


@pytest.mark.parametrize("given, message", [
    (["--reference-train", "r05.edf"], "--reference-train needs --live"),
    (["--speed", "2"], "--speed needs --live"),
    (["--speed", "2", "--reference-train", "r05.edf"], "--speed and --reference-train need --live"),
])
def test_live_only_flags_without_live_name_the_ones_given(given, message):
    """It said "--speed and --reference-train need --live" of --reference-train alone (exploratory run, s27)."""
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)), *given])
    assert res.exit_code == 2 and f"Error: {message}" in res.output, res.output


# -- finding 21: --labels matched by class name ---------------------------------------------------------------

def test_the_label_map_is_matched_to_the_outputs_by_class_name():
    data = [subset_file(R10)]
    ref = evaluate_target(str(GRU), data)["metrics"]
    for label_map in ({"T2": "feet", "T0": "rest", "T1": "fists"},  # any order
                      {"T1": "fists", "T2": "feet"},  # rest (not a trial class) left out
                      {"T0": None, "T1": "fists", "T2": "feet"}):  # or ignored
        got = evaluate_target(str(GRU), data, label_map=label_map)["metrics"]
        assert got["trial_accuracy"] == ref["trial_accuracy"], label_map
        assert got["trials_per_class"] == ref["trials_per_class"] == {"fists": 7, "feet": 8}
    reordered = evaluate_target(str(GRU), data, label_map={"T2": "feet", "T0": "rest", "T1": "fists"})["metrics"]
    assert reordered["sample_accuracy"] == ref["sample_accuracy"]  # the same samples labelled with the same outputs


@pytest.mark.parametrize(("label_map", "message"), [
    ({"T1": "fists", "T2": "hands"}, "label_map (--labels): class(es) ['hands'] are not outputs of the model "
                                     "['rest', 'fists', 'feet']"),
    ({"T0": "rest", "T1": "fists"}, "trial class(es) ['feet'] (the model's training.trial_classes) are cued by no "
                                    "event of the label map {'T0': 'rest', 'T1': 'fists'}; add EVENT=feet to --labels"),
])
def test_a_label_map_that_cannot_score_the_model_says_what_is_wrong(label_map, message):
    with pytest.raises(ModelError) as err:
        evaluate_target(str(GRU), [subset_file(R10)], label_map=label_map)
    assert str(err.value).startswith(message)


# -- finding 4: an edited card is refused by evaluate ---------------------------------------------------------

def test_evaluate_refuses_a_card_edited_after_export(tmp_path):
    folder = copy_with_card(tmp_path, lambda card: card.update(ch_names=card["ch_names"][::-1]))
    with pytest.raises(ModelError) as err:  # before any data is read: the file does not even exist
        evaluate_target(str(folder), [tmp_path / "never-read.edf"])
    assert "its card disagrees with the graph" in str(err.value)
    assert "ch_names is ['Cp6.', 'Cp4.'" in str(err.value) and "but ['Fc5.', 'Fc3.'" in str(err.value)
    res = CliRunner().invoke(main, ["evaluate", str(folder), "--data", str(subset_file(R10))])
    assert res.exit_code == 2 and "its card disagrees with the graph" in res.output


# -- finding 23: files the model was trained on ---------------------------------------------------------------

def test_evaluate_warns_once_per_training_file():
    """The bundled card holds ``training.files_sha256``: the subset's byte-identical R06 is caught by its content;
    the subset's 21-channel R05 has a training file's name but other content (another recording): no warning."""
    r06 = subset_file(SUBSET_S001 / "S001R06.edf")
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(r06), "--data", str(subset_file(R05)),
                                    "--data", str(R10)])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: S001R06.edf has the content of a training file of the model (card training.files.train: "
        "S001R06.edf, sha256 "), warnings  # R10 is the model's test file: no warning


def test_training_files_are_compared_by_path_then_by_name_and_size(tmp_path):
    r06_64 = subset_file(SUBSET_S001 / "S001R06.edf")  # the card's R06 once its root is known
    training = card_training_files({"files": {"train": ["S001R06.edf", "S001R05.edf"], "validation": [],
                                              "test": ["S001R10.edf"]},
                                    "config": {"data": {"root": str(SUBSET_S001)}}})
    copy = tmp_path / "S001R06.edf"
    shutil.copyfile(r06_64, copy)
    got = in_sample_warnings([r06_64, copy, SUBSET_S001_21CH / "S001R06.edf", R05, R10], training)
    assert got == [
        f"S001R06.edf is a training file of the model (card training.files.train: {r06_64}): its figures are "
        "in-sample, not a test",
        f"S001R06.edf has the name and size of a training file of the model (card training.files.train: {r06_64}): "
        "if it is a copy, its figures are in-sample, not a test",
        # the 21-channel S001R06.edf: the same name, but not the size of the card's file -> another recording
        "S001R05.edf has the name of a training file of the model (card training.files.train: S001R05.edf): if it "
        "is the same recording, its figures are in-sample, not a test",  # the card's R05 is not on this machine
    ]
    calibration = card_training_files({"files": ["S001R05.edf", "S001R10.edf"]})  # a calibrate card: all training
    assert [w.split(" ")[0] for w in in_sample_warnings([R05, R10], calibration)] == ["S001R05.edf", "S001R10.edf"]


def test_a_card_with_digests_compares_contents_not_names(tmp_path):
    """A calibration card's ``files_sha256``: a renamed copy of a training file is flagged, a file of a training
    file's name but other content (S001R06 of 21 channels) is not, and a card without digests falls back to names."""
    from bci_stream.core.card import sha256_file

    r06_64 = subset_file(SUBSET_S001 / "S001R06.edf")
    renamed = tmp_path / "subject1-run6.edf"
    shutil.copyfile(r06_64, renamed)
    card = {"files": ["S001R06.edf", "S001R05.edf"], "files_sha256": [sha256_file(r06_64), "0" * 64]}
    got = in_sample_warnings([renamed, SUBSET_S001_21CH / "S001R06.edf", R10], card_training_files(card))
    assert got == [f"subject1-run6.edf has the content of a training file of the model (card training.files: "
                   f"S001R06.edf, sha256 {sha256_file(r06_64)[:12]}): its figures are in-sample, not a test"]
    uneven = card_training_files({"files": ["S001R06.edf", "S001R05.edf"], "files_sha256": ["0" * 64]})
    assert [t.sha256 for t in uneven] == [None, None]  # digests that do not match the files are not used
    assert in_sample_warnings([SUBSET_S001_21CH / "S001R06.edf"], uneven)[0].startswith(
        "S001R06.edf has the name of a training file")


def test_a_checkpoint_is_checked_against_its_runs_config(tmp_path):
    from bci_stream.train.config import load_config
    from support.train_data import tiny_config_text

    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(tiny_config_text(tmp_path / "run"), encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(load_config(cfg_path).model_dump_json(indent=2))  # as the trainer writes it
    ckpt = _checkpoint(run / "checkpoints" / "causal.pt", "causal", run="tiny-s001")
    res = evaluate_target(str(ckpt), [subset_file(R05), R10])
    assert res["warnings"] == [f"S001R05.edf is a training file of the model (run config {run / 'config.json'} "
                               f"data.train: {R05}): its figures are in-sample, not a test"]


def test_a_checkpoint_finds_a_renamed_or_re_saved_copy_of_a_training_file(tmp_path):
    """Audit s61train F3: a checkpoint's run gave names and paths only, so a renamed copy of a training file (or the
    file re-saved as FIF) was scored with no in-sample warning, while the exported model of the same run warned.
    The run folder now holds its training files' digests and content prints (``training_files.json``, written as the
    trainer writes it)."""
    import mne

    from bci_stream.train.config import load_config
    from bci_stream.train.dataset import prepare_dataset
    from bci_stream.train.run_outputs import write_training_files
    from support.train_data import tiny_config_text

    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(tiny_config_text(tmp_path / "run"), encoding="utf-8")
    config = load_config(cfg_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(config.model_dump_json(indent=2))
    write_training_files(run, config, prepare_dataset(config).info.get("files_content"))
    ckpt = _checkpoint(run / "checkpoints" / "causal.pt", "causal", run="tiny-s001")
    renamed = shutil.copyfile(config.data_files("train")[1], tmp_path / "renamed.edf")
    raw = mne.io.read_raw_edf(config.data_files("train")[0], preload=True, verbose="error")
    raw.save(resaved := tmp_path / "resaved_raw.fif", verbose="error")
    res = evaluate_target(str(ckpt), [renamed, resaved])
    assert len(res["warnings"]) == 2, res["warnings"]
    assert res["warnings"][0].startswith("renamed.edf has the content of a training file of the model"), res
    assert res["warnings"][1].startswith("resaved_raw.fif holds the samples of a training file of the model"), res
