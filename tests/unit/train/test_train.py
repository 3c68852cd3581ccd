"""The trainer on a small slice of real EEG (S001, 8 motor channels, 40 s per run): config, split, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.train.config import ConfigError, load_config, parse_config  # noqa: E402
from support.train_data import CHANNELS, S001, data_present, tiny_config_text  # noqa: E402


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.toml"
    p.write_text(text, encoding="utf-8")
    return p


# -- configuration -----------------------------------------------------------------------------------

def test_config_parses_with_defaults_and_relative_paths(tmp_path):
    cfg = load_config(_write(tmp_path, tiny_config_text(Path("runs/x"))))
    assert cfg.training.epochs == 2 and cfg.training.lr == 3e-3  # given, and default
    assert cfg.out_dir == (tmp_path / "runs" / "x").resolve()  # relative to the config file's folder
    assert cfg.data_files("test") == [S001 / "S001R10.edf"]
    assert cfg.evaluation.distillation.enabled


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("epochs = 2", "epochz = 2"), r"training.epochz: Extra inputs are not permitted"),
    (lambda t: t.replace("epochs = 2", "epochs = 0"),
     r"training.epochs: Input should be greater than or equal to 1 \(got 0\)"),
    (lambda t: t.replace('test = ["S001R10.edf"]', 'test = ["S001R05.edf"]'),
     r"data.test: file 'S001R05.edf' is already in data.train"),
    (lambda t: t.replace('trial_classes = ["fists", "feet"]', 'trial_classes = ["fists", "hands"]'),
     r"data.trial_classes \['hands'\] are not class names of data.label_map"),
    (lambda t: t.replace("validation_tail_s = 12.0", ""), r"give validation files or validation_tail_s > 0"),
    (lambda t: re.sub(r"(?m)^channels = .*$", "channels = []", t),  # before: a traceback from the preprocessing
     r"data.channels: List should have at least 1 item after validation, not 0 \(got \[\]\)"),
    (lambda t: t.replace('tail_files = ["S001R06.edf"]', 'tail_files = ["S001R09.edf"]'),
     r"data.tail_files \['S001R09.edf'\] are not in data.train"),
    (lambda t: t.replace('cell = "gru"', "") + '\n[model2]\nx = 1\n', r"model2: Extra inputs are not permitted"),
    (lambda t: t.replace("hidden_size = 8", 'cell = "rnn"'),
     r"model.cell: Input should be 'gru' or 'lstm' \(got 'rnn'\)"),
    (lambda t: t.replace("[0, 8]", "[0, -8]"),
     r"evaluation.lookaheads: must be >= 0 samples; \[-8\] are not \(got \[0, -8\]\)$"),
    (lambda t: t.replace("[0, 8]", "[8, 0, 8]"),
     r"evaluation.lookaheads: must not repeat a lookahead: 8 is given more than once \(each trains "
     r"the same lookahead_K net again, the second replacing the first\) \(got \[8, 0, 8\]\)"),
    (lambda t: t.replace("trial_times_s = [0.5, 1.0, 2.0, 3.0]", "trial_times_s = []"),
     r"evaluation.trial_times_s: must give at least one time after cue \(seconds > 0\).* \(got \[\]\)"),
    (lambda t: t.replace("trial_times_s = [0.5, 1.0, 2.0, 3.0]", "trial_times_s = [0.0, 2.0, inf]"),
     r"evaluation.trial_times_s: must be finite seconds > 0 after cue; \[0.0, inf\] are not"),
    (lambda t: t.replace("trial_times_s = [0.5, 1.0, 2.0, 3.0]", "trial_times_s = [2.0, 1.0, 2]"),
     r"evaluation.trial_times_s: must not repeat a time: 2 is given more than once"),
    (lambda t: t.replace("trial_times_s = [0.5, 1.0, 2.0, 3.0]", "trial_times_s = [0.5, 1.0, 2.0, 3.0]\n"
                                                                 "csp_window_s = [-0.5, 2.5]"),
     r"evaluation.csp_window_s: must be \(start, stop\) seconds after the cue with 0 <= start < stop; "
     r"got \(-0.5, 2.5\)"),
    (lambda t: t.replace("window_s = 1.0", "window_s = 7.0"),
     r"training: training.window_s must be <= training.segment_s \(a segment is trained window by "
     r"window\), got window_s = 7 s > segment_s = 6 s"),
    (lambda t: t.replace("[data]", "[data\n"), r"is not valid TOML"),
    # a negative seed passed the checks and ended the run in a numpy traceback once the data was read (audit s68train F1)
    (lambda t: t.replace("seed = 3", "seed = -1"), r"seed: Input should be greater than or equal to 0 \(got -1\)"),
    (lambda t: t.replace("seed = 3", "seed = 4294967296"),
     r"seed: Input should be less than or equal to 4294967295 \(got 4294967296\)"),
    # strict: a quoted number or bool is refused, not read as one (before: epochs = "2" trained 2 epochs)
    (lambda t: t.replace("epochs = 2", 'epochs = "2"'),
     r"training.epochs: Input should be a valid integer \(got '2'\)"),
    (lambda t: t.replace("validation_tail_s = 12.0", 'validation_tail_s = "12"'),
     r"data.validation_tail_s: Input should be a valid number \(got '12'\)"),
    (lambda t: t.replace("bidirectional = true", 'bidirectional = "yes"'),
     r"evaluation.bidirectional: Input should be a valid boolean \(got 'yes'\)"),
])
def test_config_errors_name_the_key_the_rule_and_the_value(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, edit(tiny_config_text(Path("runs/x")))))


def test_config_file_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*nope.toml does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"'base_dir' is not a config key"):
        parse_config({"base_dir": "/"})


# -- data split --------------------------------------------------------------------------------------

def test_split_is_by_recording_and_trial_aligned_tail_without_leakage(tmp_path, data_present):
    from bci_stream.io import load_recording
    from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor
    from bci_stream.train.dataset import prepare_dataset

    cfg = load_config(_write(tmp_path, tiny_config_text(tmp_path / "out")))
    ds = prepare_dataset(cfg)
    names = {s: [q.name for q in getattr(ds, s)] for s in ("train", "validation", "test")}
    r06_train, r05 = ds.train
    (r06_val,) = ds.validation
    assert names["test"] == ["S001R10"]
    assert r05.name == "S001R05" and r05.n_times == 40 * 160  # not in tail_files: whole
    # The R06 validation tail starts where the training part stops, at a cue onset; no sample in both.
    stop = r06_train.n_times
    assert r06_train.name == f"S001R06[0:{stop}]" and r06_val.name == f"S001R06[{stop}:6400]"
    assert r06_val.start == stop and stop + r06_val.n_times == 6400
    assert r06_val.labels[0] >= 0 and r06_val.labels[0] != r06_train.labels[-1]
    assert (12 - 4.3) * 160 <= 6400 - stop <= 12 * 160  # at most the asked tail, cut at the next cue
    # Preprocessing: the online Preprocessor over the whole recording; stats from training parts only.
    rec = load_recording(S001 / "S001R06.edf", label_map=dict(cfg.data.label_map), ch_names=CHANNELS)
    x = np.ascontiguousarray(rec.data[:, :6400].T, dtype=np.float32)
    np.testing.assert_array_equal(Preprocessor(ds.preprocessing, 8, 160.0).process(x)[:stop], r06_train.x)
    base = PreprocessingConfig(bandpass=(8.0, 30.0), filter_order=4, car=True)
    z06 = Preprocessor(base, 8, 160.0).process(x)
    x05 = np.ascontiguousarray(load_recording(S001 / "S001R05.edf", ch_names=CHANNELS).data[:, :6400].T, np.float32)
    z05 = Preprocessor(base, 8, 160.0).process(x05)
    train_only = np.concatenate([z06[320:stop], z05[320:]]).astype(np.float64)
    np.testing.assert_allclose(ds.preprocessing.mean, train_only.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ds.preprocessing.std, train_only.std(0), rtol=1e-9)
    with_val = np.concatenate([z06[320:], z05[320:]]).astype(np.float64)
    assert not np.allclose(ds.preprocessing.std, with_val.std(0), rtol=1e-6)
    # The card's channel names are the file's own spelling (what a replay of the EDF over LSL carries).
    assert ds.ch_names == ["C3..", "C1..", "Cz..", "C2..", "C4..", "Fc3.", "Fcz.", "Fc4."]


def test_training_batches_are_contiguous_segments_of_one_recording(tmp_path, data_present):
    from bci_stream.train.dataset import prepare_dataset
    from bci_stream.train.distributed import DistContext
    from bci_stream.train.loop import make_batch, segment_length

    cfg = load_config(_write(tmp_path, tiny_config_text(tmp_path / "out")))
    ds = prepare_dataset(cfg)
    seg, window = segment_length(ds.train, cfg.training, ds.sfreq, future=16)
    assert (seg, window) == (960, 160)
    rng = np.random.default_rng(0)
    halves = [make_batch(ds.train, seg, 16, 37, DistContext(r, 2), np.random.default_rng(0)) for r in (0, 1)]
    full = make_batch(ds.train, seg, 16, 37, DistContext(0, 1), rng)
    assert halves[0].x.shape[1] == seg + 16 and halves[0].y.shape[1] == seg
    assert halves[0].x.shape[0] + halves[1].x.shape[0] <= full.x.shape[0]
    # Every row is a contiguous piece of one training sequence, at the epoch's offset + k segments.
    for row_x, row_y in zip(full.x.numpy(), full.y.numpy()):
        hits = [(q, a) for q in ds.train for a in range(37, q.n_times - seg - 16 + 1, seg)
                if np.array_equal(q.x[a : a + seg + 16], row_x)]
        assert len(hits) == 1
        q, a = hits[0]
        np.testing.assert_array_equal(q.labels[a : a + seg], row_y)
    rows0 = {r.numpy().tobytes() for r in halves[0].x}
    assert rows0.isdisjoint({r.numpy().tobytes() for r in halves[1].x})  # ranks never share a segment


# -- end to end --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_present):
    from bci_stream.train.run import run_file

    root = tmp_path_factory.mktemp("tiny")
    cfg_path = _write(root, tiny_config_text(root / "run", export_dir=root / "models" / "tiny-s001-gru"))
    torch.set_num_threads(1)
    report = run_file(cfg_path, progress=False, log=lambda *a: None)
    return root, report


def test_end_to_end_report_has_every_row(tiny_run):
    root, report = tiny_run
    run = root / "run"
    for f in ("config.toml", "config.json", "checkpoint.pt", "report.json", "report.md", "accuracy_vs_time.png",
              "lookahead.png", "training.png", "checkpoints/causal.pt", "checkpoints/lookahead_8.pt"):
        assert (run / f).is_file(), f
        if f.endswith(".png"):
            assert (run / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((run / "report.json").read_text())
    assert set(on_disk["models"]) == {"causal", "bidirectional", "lookahead_0", "lookahead_8", "distilled"}
    assert on_disk["models"]["lookahead_8"]["added_latency_ms"] == pytest.approx(50.0)
    assert on_disk["models"]["bidirectional"]["added_latency_ms"] is None
    test = on_disk["models"]["causal"]["test"]
    assert set(test["trial_accuracy"]) == {"0.5s", "1s", "2s", "3s"}
    assert test["n_trials"] == 5 and test["trials_per_class"] == {"fists": 2, "feet": 3}  # R10's first 40 s
    assert len(test["curve"]["t_s"]) == len(test["curve"]["instant"]) == len(test["curve"]["mean"])
    assert 0 <= on_disk["csp_lda"]["test_accuracy"] <= 1 and on_disk["csp_lda"]["n_test_trials"] == 5
    assert on_disk["distillation"]["summary"].startswith("distilled vs causal")
    assert "fists" in on_disk["data"]["trial_classes"]
    assert on_disk["spatial_init"]["kind"] == "csp"
    md = (run / "report.md").read_text()
    for row in ("| causal | 0 (causal)", "| lookahead_8 | 50 ms (K=8)", "| bidirectional | ∞", "| CSP+LDA |"):
        assert row in md
    assert load_config(run / "config.toml").name == "tiny-s001"  # the config is saved with its results


def test_exported_model_loads_in_the_registry_and_matches_the_checkpoint(tiny_run):
    from bci_stream.io import load_recording
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.offline import decode_offline
    from bci_stream.dsp.preprocess import Preprocessor
    from bci_stream.train.checkpoint import load_checkpoint
    from bci_stream.train.infer import predict_probs

    root, report = tiny_run
    entry = ModelRegistry(root / "models").get("tiny-s001-gru")
    card = entry.card
    assert card.ch_names == ["C3..", "C1..", "Cz..", "C2..", "C4..", "Fc3.", "Fcz.", "Fc4."]
    assert card.sfreq == 160.0 and card.output.labels == ["rest", "fists", "feet"]
    assert card.training["licence"]["licence"] == "ODC-By 1.0"
    assert card.training["files"]["test"] == ["S001R10.edf"]
    assert [len(d) for d in card.training["files_sha256"]["test"]] == [64]
    test_prints = card.training["files_content"]["test"]  # the test file's samples, recognisable in any file
    assert [p["n_times"] for p in test_prints] == [load_recording(S001 / "S001R10.edf").n_times]
    assert card.metrics["test"]["trial_accuracy"]["2s"] == report["models"]["causal"]["test"]["trial_accuracy"]["2s"]
    assert card.preprocessing.mean is not None and card.parity.max_abs_diff <= 1e-4
    # The service's offline path (card preprocessing + onnxruntime) == the torch checkpoint.
    net, meta = load_checkpoint(root / "run" / "checkpoint.pt")
    rec = load_recording(S001 / "S001R10.edf", ch_names=card.ch_names)
    x = np.ascontiguousarray(rec.data[:, :2000].T, dtype=np.float32)
    y_onnx = decode_offline(entry, x)
    y_torch = predict_probs(net, Preprocessor(meta["preprocessing"], 8, 160.0).process(x))
    np.testing.assert_allclose(y_onnx, y_torch, atol=1e-4)


def test_evaluate_cli_on_checkpoint_and_model(tiny_run):
    from click.testing import CliRunner

    from bci_stream.cli import main

    root, report = tiny_run
    expected = report["models"]["causal"]["test"]["trial_accuracy"]
    runner = CliRunner()
    for target in (root / "run" / "checkpoint.pt", root / "models" / "tiny-s001-gru"):
        out = root / f"eval-{target.name}"
        res = runner.invoke(main, ["evaluate", str(target), "--data", str(S001 / "S001R10.edf"), "--out", str(out)])
        assert res.exit_code == 0, res.output
        got = json.loads((out / "evaluation.json").read_text())["evaluation"]["metrics"]
        # The whole R10 run now (the report saw its first 40 s): the first trials' decisions agree.
        assert got["n_trials"] == 15 and got["trials_per_class"] == {"fists": 7, "feet": 8}
        assert "trial accuracy @   2s" in res.output
        assert (out / "evaluation.md").is_file() and (out / "accuracy_vs_time.png").is_file()
    del expected
    res = runner.invoke(main, ["evaluate", str(root / "run" / "checkpoint.pt"), "--data", str(S001 / "S001R10.edf"),
                               "--label-map", "T9=fists"])
    assert res.exit_code != 0 and "label_map matches no event" in res.output
    res = runner.invoke(main, ["evaluate", str(root / "run" / "checkpoint.pt"), "--data", str(S001 / "S001R10.edf"),
                               "--label-map", "T1=fists,T9=feet"])  # a typo: feet would never be scored
    assert res.exit_code == 2
    assert "label_map (--labels) names event(s) ['T9'] that occur in none of the files" in res.output


def test_evaluate_of_a_bidirectional_checkpoint_says_its_figures_are_offline_upper_bounds(tiny_run):
    """Each output of a bidirectional net used the whole file: the output, evaluation.json and evaluation.md say
    the figures are non-causal upper bounds (before: printed as any model's); a causal net's say nothing of it."""
    from click.testing import CliRunner

    from bci_stream.cli import main

    root, _ = tiny_run
    out = root / "eval-bidirectional"
    res = CliRunner().invoke(main, ["evaluate", str(root / "run" / "checkpoints" / "bidirectional.pt"), "--data",
                                    str(S001 / "S001R10.edf"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    words = ("non-causal: bidirectional is a bidirectional net; each of its outputs used the whole recording, samples "
             "after the decision time included, so these figures are offline upper bounds that a causal decoder "
             "cannot reach online")
    assert f"note: {words}" in res.output
    assert "bidirectional (checkpoint, non-causal: offline upper bounds) on 1 file(s)" in res.output
    got = json.loads((out / "evaluation.json").read_text())["evaluation"]
    assert got["non_causal"].startswith(words) and got["notes"][0] == got["non_causal"]
    assert words in (out / "evaluation.md").read_text()
    res = CliRunner().invoke(main, ["evaluate", str(root / "run" / "checkpoints" / "causal.pt"), "--data",
                                    str(S001 / "S001R10.edf")])
    assert res.exit_code == 0 and "non-causal" not in res.output


def test_csp_filters_live_in_the_signal_space_after_car():
    """CAR + per-channel scaling make the covariance singular; the filters must not blow up along the null
    direction, and the first/second filter must favour class A/B."""
    from bci_stream.train.evaluate.baseline import csp_filters

    rng = np.random.default_rng(0)
    n_chans, trial = 6, 400
    x, labels = [], []
    for k in range(20):
        e = rng.standard_normal((n_chans, trial))
        if k % 2 == 0:
            e[0] += 3 * rng.standard_normal(trial)  # class 0: more variance at channel 0
        else:
            e[3] += 3 * rng.standard_normal(trial)  # class 1: at channel 3
        x.append(e)
        labels.append(np.full(trial, k % 2))
    x = np.concatenate(x, axis=1)
    x = (x - x.mean(0)) * np.linspace(0.5, 2.0, n_chans)[:, None]  # CAR, then per-channel scales
    w = csp_filters([(x, np.concatenate(labels))], 100.0, [0, 1], 2, window_s=(0.0, 4.0))
    assert w.shape == (2, n_chans) and np.isfinite(w).all() and np.abs(w).max() < 100
    out = w @ x
    var = [[out[f, k * trial : (k + 1) * trial].var() for k in range(20)] for f in range(2)]
    ratio = [np.mean(v[0::2]) / np.mean(v[1::2]) for v in var]
    assert ratio[0] > 3 and ratio[1] < 1 / 3
    with pytest.raises(ValueError, match="needs exactly 2 trial classes, got 3"):
        csp_filters([(x, np.concatenate(labels))], 100.0, [0, 1, 2], 2)


def test_a_run_without_test_files_warns_in_its_report_and_card(tmp_path, data_present):
    """No data.test: the chosen net is not scored on held-out data; the run, its report and the exported card say
    so (before: a card with ``metrics.test`` null and no word why)."""
    from click.testing import CliRunner

    from bci_stream.cli import main

    text = tiny_config_text(tmp_path / "run", export_dir=tmp_path / "model", bidirectional=False, lookaheads="[4]",
                            extra="[evaluation.distillation]\nenabled = false")
    cfg_path = _write(tmp_path, text.replace('test = ["S001R10.edf"]', "test = []"))
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(cfg_path)])
    assert res.exit_code == 0, res.output
    words = ("no test files (data.test is empty): the causal net's accuracy on data it was neither trained nor "
             "validated on is not measured; score it on held-out runs with `bci-stream evaluate` before relying on it")
    assert f"warning: {words}" in res.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["untested"] == words and words in report["notes"]
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["metrics"]["test"] is None and card["metrics"]["warnings"] == [words]


def test_a_run_folder_that_cannot_be_made_is_refused_before_training(tmp_path):
    from bci_stream.train.run_outputs import check_outputs

    (tmp_path / "afile").write_text("x")
    cfg = load_config(_write(tmp_path, tiny_config_text(tmp_path / "afile" / "run")))
    afile = tmp_path / "afile"
    with pytest.raises(ConfigError, match=re.escape(f"run folder (--out, else output.dir) {afile / 'run'}: "
                                                    f"{afile} is a file, not a folder: give a folder")):
        check_outputs(cfg, export=False, overwrite=False)
