"""What a training run writes: a run folder never mixes two runs (--overwrite), refusals come before training,
the exported card scores live trials as its metrics do, and the report names the real classes and times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.train.config import ConfigError, load_config  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402

#: One causal net and one lookahead net, 2 epochs; decisions at 0.5, 1.5 and 3 s (no 2 s).
QUICK = "csp_lda = true\n[evaluation.distillation]\nenabled = false"
#: The tiny config's model with the offline-only attention readout.
ATTENTION = "power_filters = 4\nattention_window = 8"


@pytest.fixture(scope="module")
def s001() -> Path:
    """The repository's S001 subset (tests/data), which the tiny configs read."""
    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    return S001


def _text(root: Path, *, export: bool = True, edit=lambda t: t) -> str:
    text = tiny_config_text(root / "run", export_dir=root / "models" / "tiny" if export else None,
                            bidirectional=False, lookaheads="[4]", extra=QUICK)
    return edit(text.replace("trial_times_s = [0.5, 1.0, 2.0, 3.0]", "trial_times_s = [0.5, 1.5, 3.0]"))


def _train(args: list[str]):
    from click.testing import CliRunner

    from bci_stream.cli import main

    torch.set_num_threads(1)
    return CliRunner().invoke(main, ["train", "--no-progress", *args])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, s001):
    root = tmp_path_factory.mktemp("outputs")
    cfg = root / "run.toml"
    cfg.write_text(_text(root), encoding="utf-8")
    res = _train([str(cfg), "--export"])  # as the config says; the card's command must still say it
    assert res.exit_code == 0, res.output
    return root, cfg


def test_the_cards_command_keeps_the_options_that_change_the_model(tiny):
    root, cfg = tiny
    card = json.loads((root / "models" / "tiny" / "model.json").read_text())
    # the card travels: the config's path as its name (audit s46); the run folder's report keeps this machine's path
    assert card["training"]["command"] == f"bci-stream train {cfg.name} --export"
    assert json.loads((root / "run" / "report.json").read_text())["command"] == f"bci-stream train {cfg} --export"
    assert "/" not in json.dumps(card["training"]["config"]["output"]), card["training"]["config"]["output"]


def test_the_card_and_report_say_whether_the_model_beats_chance(tiny):
    root, _ = tiny
    report = json.loads((root / "run" / "report.json").read_text())
    card = json.loads((root / "models" / "tiny" / "model.json").read_text())
    check = report["chance_check"]
    row = report["models"]["causal"]["test"]["trial_accuracy"]["1.5s"]  # trial_times_s [0.5, 1.5, 3]: nearest 2 s
    assert (check["stage"], check["decision_time_s"], check["instant"], check["p_vs_chance"]) == \
           ("causal", 1.5, row["instant"], row["instant_p_vs_chance"])
    assert card["metrics"]["chance_check"] == {k: v for k, v in check.items() if k not in ("warning", "one_class")}
    said = [w for w in (check["warning"], check["one_class"]) if w]
    assert card["metrics"]["warnings"] == said and set(said) <= set(report.get("notes", []))


def test_chance_check_warns_unless_the_test_trials_beat_chance():
    from bci_stream.train.run_outputs import chance_check

    def test(acc, k, n, p, major=0.5):
        return {"trial_accuracy": {"2s": {"instant": acc, "instant_correct": k, "n_trials": n,
                                          "instant_p_vs_chance": p}},
                "chance_trial_accuracy": major, "uniform_chance": 0.5}

    good = chance_check(test(0.9, 27, 30, 1e-6), "causal", [1.0, 2.0])
    assert good["above_chance"] and good["warning"] is None
    bad = chance_check(test(8 / 15, 8, 15, 0.5), "distilled", [1.0, 2.0])
    assert not bad["above_chance"]
    assert bad["warning"] == ("the distilled net is not shown to beat chance on the test files: its trial accuracy at "
                              "2 s (instant) is 0.533 (8/15 trials), one-sided binomial p = 0.50 against the majority "
                              "class's share 0.50 (uniform chance 0.50); record more or cleaner data before relying on "
                              "it")  # (before: "against uniform chance", for the majority's p: audit s61train F1)
    assert not chance_check(test(0.6, 18, 30, 0.01, major=0.7), "causal", [2.0])["above_chance"]  # majority 0.7
    assert chance_check(None, "causal", [2.0]) is None
    assert good["one_class"] is None and bad["one_class"] is None  # no per-class counts: nothing to say


def test_chance_check_says_a_net_that_decided_every_test_trial_as_one_class():
    """Audit s68train F4: a causal net that decided 'fists' for all 15 test trials of S002 (feet 0/7): ``train``
    said only that it is not shown to beat chance, where ``evaluate`` of the same model says it decides one class."""
    from bci_stream.train.run_outputs import chance_check

    row = {"instant": 8 / 15, "instant_correct": 8, "n_trials": 15, "instant_p_vs_chance": 0.5,
           "instant_per_class": {"fists": [8, 8], "feet": [0, 7]}, "instant_decided": {"fists": 15, "feet": 0}}
    check = chance_check({"trial_accuracy": {"2s": row}, "chance_trial_accuracy": 8 / 15, "uniform_chance": 0.5},
                         "causal", [2.0])
    assert check["warning"] is not None
    assert check["one_class"].startswith("at 2s after the cue every trial was decided 'fists' (per class at 2s: "
                                         "fists 8/8, feet 0/7): the decoder does not tell the classes apart")
    mixed = dict(row, instant_decided={"fists": 14, "feet": 1})
    assert chance_check({"trial_accuracy": {"2s": mixed}, "chance_trial_accuracy": 8 / 15, "uniform_chance": 0.5},
                        "causal", [2.0])["one_class"] is None


def test_the_train_command_line_has_every_option_that_changes_what_is_built():
    from bci_stream.train.run import train_command

    assert train_command("a.toml", None, None, False) == "bci-stream train a.toml"
    assert train_command("a.toml", "runs/x", False, True) == "bci-stream train a.toml --out runs/x --no-export " \
                                                            "--overwrite"
    assert train_command("a.toml", None, True, False) == "bci-stream train a.toml --export"


# -- finding 10: a run folder (and export folder) holding a previous run --------------------------------------

def test_a_second_run_into_the_same_folders_is_refused_unless_overwrite(tiny):
    root, cfg = tiny
    before = {p: p.stat().st_mtime_ns for p in (root / "run").rglob("*") if p.is_file()}
    res = _train([str(cfg)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"error: run folder {root / 'run'} (--out, else output.dir) already holds files (" in res.output
    assert "give another folder with --out, or pass --overwrite to replace that run" in res.output
    assert {p: p.stat().st_mtime_ns for p in (root / "run").rglob("*") if p.is_file()} == before  # untouched
    res = _train([str(cfg), "--out", str(root / "run2")])  # a fresh run folder; the export folder holds a model
    assert res.exit_code == 2
    card = json.loads((root / "models" / "tiny" / "model.json").read_text())
    assert f"error: export folder {root / 'models' / 'tiny'} (export.dir) already holds a model (tiny-s001-gru@1.0.0 " \
           f"(sha256 {card['sha256'][:12]}…)); pass --overwrite" in res.output and not (root / "run2").exists()
    res = _train([str(cfg), "--nproc-per-node", "2"])  # refused before torchrun: one line, not one per process
    assert res.exit_code == 2 and "Traceback" not in res.output and res.output.count("error: run folder") == 1


def test_overwrite_replaces_the_previous_run_and_only_its_files(tmp_path, s001):
    cfg = tmp_path / "run.toml"
    cfg.write_text(_text(tmp_path, export=False, edit=lambda t: t.replace("lookaheads = [4]", "lookaheads = [4, 2]")))
    assert _train([str(cfg)]).exit_code == 0
    (tmp_path / "run" / "notes.txt").write_text("mine")
    cfg.write_text(_text(tmp_path, export=False))  # the next run has no lookahead_2 stage
    res = _train([str(cfg), "--overwrite", "--no-export"])
    assert res.exit_code == 0, res.output
    assert "--overwrite: deleted the previous run's" in res.output
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["causal.pt", "lookahead_4.pt"]  # no stale one
    assert (run / "notes.txt").read_text() == "mine"  # not a file of a run: kept
    assert json.loads((run / "report.json").read_text())["command"].endswith("--no-export --overwrite")
    assert "lookaheads = [4]" in (run / "config.toml").read_text()


def test_overwrite_of_an_exported_model_names_the_model_it_replaced(tiny, tmp_path):
    import shutil

    root, _ = tiny
    shutil.copytree(root / "models" / "tiny", tmp_path / "models" / "tiny")
    old = json.loads((tmp_path / "models" / "tiny" / "model.json").read_text())
    cfg = tmp_path / "run.toml"
    cfg.write_text(_text(tmp_path, edit=lambda t: t.replace("seed = 3", "seed = 4")), encoding="utf-8")
    res = _train([str(cfg), "--overwrite"])
    assert res.exit_code == 0, res.output
    new = json.loads((tmp_path / "models" / "tiny" / "model.json").read_text())
    # other weights, so the next version (as calibrate --overwrite; 1.0.0 before, which kept it: D4); the log names both
    assert new["sha256"] != old["sha256"] and new["version"] == "1.0.1"
    assert (f"--overwrite: replaced the model in {tmp_path / 'models' / 'tiny'}: tiny-s001-gru@1.0.0 "
            f"(sha256 {old['sha256'][:12]}…), by tiny-s001-gru@1.0.1") in res.output
    exported = f"exported tiny-s001-gru@1.0.1 to {tmp_path / 'models' / 'tiny'} (sha256 {new['sha256'][:12]}…"
    assert exported in res.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["export"]["replaced"] == f"tiny-s001-gru@1.0.0 (sha256 {old['sha256'][:12]}…)"


def test_distillation_without_a_teacher_is_noted(tmp_path, s001):
    cfg = tmp_path / "run.toml"
    cfg.write_text(tiny_config_text(tmp_path / "run", bidirectional=False, lookaheads="[]", extra="csp_lda = false"))
    res = _train([str(cfg)])
    assert res.exit_code == 0, res.output
    note = ("evaluation.distillation.enabled = true (its default) but evaluation.bidirectional = false: no teacher, so "
            "no distilled student is trained")  # not set in the config: said to be the default
    assert f"note: {note}" in res.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["notes"][0] == note and list(report["models"]) == ["causal"]


def test_check_outputs_with_overwrite_and_export_settings(tmp_path):
    from bci_stream.train.run_outputs import check_outputs

    cfg_path = tmp_path / "run.toml"
    # the power filters kept (spatial_init = "csp" needs them: D5)
    cfg_path.write_text(_text(tmp_path, edit=lambda t: t.replace("power_filters = 4", ATTENTION)))
    cfg = load_config(cfg_path)
    # finding 14: an export that will be refused is refused before training (and --no-export lets it train)
    with pytest.raises(ConfigError, match=r"model.attention_window = 8 makes the net offline-only .* cannot be "
                                          r"exported: set export.enabled = false or pass --no-export"):
        check_outputs(cfg, export=True, overwrite=False)
    check_outputs(cfg, export=False, overwrite=False)
    (tmp_path / "run").mkdir()
    check_outputs(cfg, export=False, overwrite=False)  # an empty folder is fine
    (tmp_path / "run" / "report.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds files \(report.json\)"):
        check_outputs(cfg, export=False, overwrite=False)
    check_outputs(cfg, export=False, overwrite=True)


def test_an_unexportable_model_is_refused_by_the_cli_before_training(tmp_path, s001):
    cfg = tmp_path / "run.toml"
    cfg.write_text(_text(tmp_path, edit=lambda t: t.replace("power_filters = 4", ATTENTION)))
    res = _train([str(cfg)])
    assert res.exit_code == 2 and "error: model.attention_window = 8 makes the net offline-only" in res.output
    assert not (tmp_path / "run").exists() and "Traceback" not in res.output


# -- finding 6: the card's scoring field -------------------------------------------------------------------------

def test_the_exported_card_scores_live_trials_of_the_trial_classes_only(tiny):
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.core.spec import MarkerOptions
    from bci_stream.service.scoring import LiveScorer, scoring_config

    root, _ = tiny
    card = ModelRegistry(root / "models").get("tiny-s001-gru").card
    assert card.scoring is not None
    assert card.scoring.marker_map == {"T0": None, "T1": "fists", "T2": "feet"}
    assert card.scoring.decision_time_s == 1.5  # the trial time nearest 2 s (there is no 2 s)
    config, why = scoring_config(card, MarkerOptions())
    assert why is None and config.source == "card.scoring"
    scorer = LiveScorer(config, card.output.labels, card.sfreq)
    assert scorer.marker("T0", 1.0) is None and scorer.marker("T1", 5.0) == "fists"  # a rest cue is no trial
    assert set(scorer.describe()["per_class"]) == {"fists", "feet"}


# -- finding 9: report text and figures ------------------------------------------------------------------------

def test_the_report_names_the_classes_times_chance_and_the_csp_row(tiny):
    root, _ = tiny
    md = (root / "run" / "report.md").read_text()
    assert "Trial accuracy at t after cue onset, fists vs feet only." in md
    assert ("*chance*: the share of the most frequent of these classes among the trials (uniform chance 1/2 = 0.50); "
            "the p-values in report.json (`*_p_vs_chance`) are one-sided binomial tests of the correct trials against "
            "that chance, and `instant_per_class` gives each class's correct/trials." in md)
    csp_row = next(line for line in md.splitlines() if line.startswith("| CSP+LDA |"))
    cells = [c.strip() for c in csp_row.strip("|").split("|")]
    assert cells[1] == "decision at 2.5 s" and cells[4:] == ["–", "–", cells[6], "–", "–", cells[6]]
    assert cells[6].endswith("(at 2.5 s)") and cells[6] != "–"  # in the 3 s columns, with its own time
    assert ("lookahead.png shows trial accuracy at 1.5 s after cue, the evaluated time nearest 2 s "
            "(evaluation.trial_times_s has no 2 s).") in md
    assert (root / "run" / "lookahead.png").is_file()
    report = json.loads((root / "run" / "report.json").read_text())
    test = report["models"]["causal"]["test"]
    assert test["uniform_chance"] == 0.5 and "p_vs_chance" in report["definitions"]


def test_the_card_gives_lookahead_accuracy_at_the_time_nearest_2s(tiny):
    root, _ = tiny
    metrics = json.loads((root / "models" / "tiny" / "model.json").read_text())["metrics"]
    report = json.loads((root / "run" / "report.json").read_text())
    assert metrics["lookahead_decision_time_s"] == 1.5 and "lookahead_trial_accuracy_2s" not in metrics
    table = metrics["lookahead_trial_accuracy_nearest_2s"]
    assert set(table) == {"causal", "lookahead_4"}
    for name, row in table.items():
        assert row["mean"] == report["models"][name]["test"]["trial_accuracy"]["1.5s"]["mean"] is not None


def test_the_report_names_other_trial_classes():
    from bci_stream.train.evaluate.report import markdown

    test = {"n_trials": 30, "trials_per_class": {"left": 14, "right": 16}, "chance_trial_accuracy": 16 / 30,
            "uniform_chance": 0.5, "sample_accuracy": 0.5, "trial_class_sample_accuracy": 0.5,
            "trial_accuracy": {"1s": {"instant": 0.5, "mean": 0.6}, "3s": {"instant": 0.7, "mean": 0.8}}}
    md = markdown({"run": "lr", "models": {"causal": {"causal": True, "lookahead": 0, "test": test}},
                   "csp_lda": {"decision_time_s": 2.5, "test_accuracy": 0.6, "band_hz": [8, 30], "window_s": [0.5, 2.5],
                               "n_components": 4, "n_test_trials": 30, "n_train_trials": 45}})
    assert "Trial accuracy at t after cue onset, left vs right only." in md and "fists" not in md
    assert "| CSP+LDA | decision at 2.5 s | – | – | – | 0.60 (at 2.5 s) | – | 0.60 (at 2.5 s) |" in md


# -- finding 7: the chosen stage (finding 11, the bidirectional nets' widths: test_birnn_widths.py) ----------------

def test_export_of_a_stage_the_run_does_not_train_is_an_error(tmp_path):
    from bci_stream.train.run import _chosen, plan_stages

    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(_text(tmp_path))
    cfg = load_config(cfg_path)
    cfg = cfg.model_copy(update={"export": cfg.export.model_copy(update={"model": "student"})})  # bypasses load
    with pytest.raises(ConfigError, match=r"export.model = 'student' needs the 'distilled' stage, which this run does "
                                          r"not train \(stages: \['causal', 'lookahead_4'\]\)"):
        _chosen(cfg, plan_stages(cfg, 8, 3))


def test_a_refused_export_keeps_the_runs_report(tmp_path, s001, monkeypatch):
    import bci_stream.train.run as run_module
    import bci_stream.train.run_export as export_module
    from bci_stream.core.errors import ModelError

    def refuse(*_args, **_kwargs):
        raise ModelError("export of tiny-s001-gru@1.0.0 refused: parity")

    monkeypatch.setattr(export_module, "export_chosen", refuse)  # (called by export_noted, train's and export's)
    cfg = tmp_path / "run.toml"
    cfg.write_text(_text(tmp_path))
    torch.set_num_threads(1)
    with pytest.raises(ModelError, match="refused: parity"):
        run_module.run_file(cfg, progress=False, log=lambda *a: None)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert set(report["models"]) == {"causal", "lookahead_4"} and "export" not in report
    assert (tmp_path / "run" / "report.md").is_file()
