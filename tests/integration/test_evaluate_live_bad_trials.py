"""`evaluate --live` scores the trials offline `evaluate` scores: on a file with a ``BAD_blink`` annotation, a NaN
stretch and a zero-duration ``1023`` named by ``--bad-events``, the three trials touching them are left out of the
live figures and of the epoch references beside them, by the same rule, listed in ``trials_left_out`` (offline
evaluate's entries) and said in the printed table and ``evaluation_live.txt``. Every sample is still replayed,
decoded and checked (decoded == sent, max |live - offline|), and the service's own live score, which counts every
cue, is compared on every cue and says how many of them the table leaves out.

Data: real EEG, the first 50 s of S001 R05 of ``tests/data/eegmmidb/S001-21ch`` written as FIF with the marks
(``tests/support/marked.py``); reference training on the clean R06 EDF. Model: the bundled ``eegmmidb-s001-gru``
(21 channels). Real in-process service, real LSL on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("mne")

from bci_stream.cli import main  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from support.common import REPO, subset_file  # noqa: E402
from support.marked import LABELS, R05, R06, SFREQ, cues, marked_fif  # noqa: E402

MODEL, MODELS = "eegmmidb-s001-gru", REPO / "models"
TIMES = (0.5, 1.0, 2.0, 3.0)  # evaluate --live's default decision times
CROP_S = 50.0

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], int]:
    """The first :data:`CROP_S` s of R05 (6 cues) with a blink 0.5 s after cue 1, a zero-duration ``1023`` 1 s after
    cue 3 and 1 s of NaN on C3 and Cz 1 s after cue 4 (its settling ends before cue 5); the onsets of the three trials
    they touch, and the number of cues."""
    import mne

    tmp_path = tmp_path_factory.mktemp("marked")
    on = [onset for onset, _ in cues()]
    t = [o / SFREQ for o in on]
    names = load_recording(subset_file(R05)).ch_names
    rows = [names.index("C3.."), names.index("Cz..")]
    full = marked_fif(tmp_path / "full_raw.fif", extra=[(t[1] + 0.5, 0.3, "BAD_blink"), (t[3] + 1.0, 0.0, "1023")],
                      nan=[(rows, t[4] + 1.0, t[4] + 2.0, np.nan)])
    raw = mne.io.read_raw_fif(full, preload=True, verbose="error").crop(tmax=CROP_S - 1 / SFREQ)
    raw.save(path := tmp_path / "marked_raw.fif", verbose="error")
    n_cues = sum(o + 3 * SFREQ < CROP_S * SFREQ for o in on)
    assert n_cues == 6 and on[5] + 3 * SFREQ < CROP_S * SFREQ < on[6]  # every trial's span inside the piece
    return path, [on[1], on[3], on[4]], n_cues


def test_live_scores_the_trials_offline_evaluate_scores_and_names_those_left_out(marked, tmp_path: Path) -> None:
    from bci_stream.train.evaluate.offline import evaluate_target

    path, left, n_cues = marked
    out = tmp_path / "live"
    run = CliRunner().invoke(main, ["evaluate", MODEL, "--models-dir", str(MODELS), "--data", str(path), "--live",
                                    "--speed", "32", "--labels", "T1=fists,T2=feet", "--bad-events", "1023",
                                    "--out", str(out)],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    res = json.loads((out / "evaluation_live.json").read_text(encoding="utf-8"))
    offline = evaluate_target(MODEL, [path], label_map=LABELS, models_dir=MODELS, times_s=TIMES, bad_events=["1023"])

    # the same trials left out, for the same reasons, in the same words
    assert res["trials_left_out"] == offline["trials_left_out"] and res["trials_left_out"][0]["n"] == 3
    assert set(res["trials_left_out"][0]["by_reason"]) == {"BAD_blink", "1023", next(
        r for r in offline["trials_left_out"][0]["by_reason"] if r.startswith("non-finite samples"))}
    sentence = next(n for n in offline["notes"] if n.startswith("left out 3 trial(s) of marked_raw.fif: "))
    assert sentence in res["notes"] and res["settings"]["bad_events"] == ["1023"]
    assert f"note: {sentence}" in run.output and f"note: {sentence}" in (out / "evaluation_live.txt").read_text()

    # scored live: the kept trials only, with the offline evaluate's figures
    f = res["files"][0]
    assert f["n_trials"] == offline["metrics"]["n_trials"] == n_cues - 3
    assert not {tr["onset"] for tr in f["trials"]} & set(left) and len(f["trials"]) == n_cues - 3
    for key, got in f["accuracy"].items():
        want = offline["metrics"]["trial_accuracy"][key]
        assert (got["accuracy"], got["correct"], got["n_trials"]) == \
            (want["instant"], want["instant_correct"], want["n_trials"]), key
    # every sample still checked; the service's own score on every cue, the left-out ones counted
    assert f["sent"] == f["decoded"] == f["n_times"] and f["missing"] == 0 and res["checks"]["passed"], res["checks"]
    assert f["max_abs_diff"] <= res["checks"]["tolerance"] and f["nonfinite_values"] == 2 * int(SFREQ)
    vs = f["service_vs_offline"]
    assert vs["identical"] and vs["service"]["trials"] == vs["offline"]["trials"] == n_cues and vs["left_out"] == 3
    assert "(every cue; 3 of them left out of the accuracy table: they touch data marked bad): same" in run.output


def test_the_epoch_references_score_the_same_trials_and_fit_without_the_marked_ones(marked, tmp_path: Path) -> None:
    """What evaluate --live does before its references (:func:`leave_out_marked` on the test files to the latest
    decision time, on the --reference-train files to the epoch's end, --bad-events on both): the references score
    the trials the live figures and offline evaluate score, and fit without a --reference-train trial that a
    ``1023`` marks (their own rule, without --bad-events, would keep both)."""
    from bci_stream.core.registry import read_card
    from bci_stream.train.evaluate.live_trials import leave_out_marked, load_streamed
    from bci_stream.train.evaluate.live import references
    from bci_stream.train.evaluate.offline import evaluate_target

    card = read_card(MODELS / MODEL / "model.json")
    path, left, n_cues = marked
    k = cues(R06)[2][0] / SFREQ
    train_path = marked_fif(tmp_path / "r06_1023_raw.fif", src=R06, extra=[(k + 1.0, 0.0, "1023")])
    test, train = (load_streamed(p, LABELS, card, {}, None, "--data") for p in (path, train_path))
    test_left, unscored = leave_out_marked(test, ["1023"], max(TIMES), set(LABELS))
    fit_left, _ = leave_out_marked(train, ["1023"], 2.5, set(LABELS))
    assert test_left["n"] == 3 and [o for o, _ in cues()[:n_cues] if unscored[o]] == left
    assert fit_left["n"] == 1 and fit_left["by_reason"] == {"1023": {cues(R06)[2][1]: 1}}

    class_ids = [list(card.output.labels).index(c) for c in ("fists", "feet")]
    refs, notes = references([train], [test], SFREQ, class_ids, (0.5, 2.5))
    offline = evaluate_target(MODEL, [path], label_map=LABELS, models_dir=MODELS, times_s=TIMES, bad_events=["1023"])
    for key in ("reference", "reference_ts_lr"):
        assert refs[key]["overall"]["n_trials"] == offline["metrics"]["n_trials"] == n_cues - 3, refs[key]
        assert refs[key]["n_train_trials"] == len(cues(R06)) - 1
    assert not any("left out" in n for n in notes)  # nothing beyond what the live run left out and says itself


def test_a_train_made_models_label_window_still_finds_the_left_out_cues(marked, tmp_path: Path) -> None:
    """A card whose ``data.label_window`` starts after the cue (0.5 s) labels each trial from cue + 0.5 s: the
    service-vs-offline line still counts the 3 left-out cues (review s20 #2: it read each cue's own sample, never
    labelled under such a window, and said none)."""
    import shutil

    path, _, n_cues = marked
    models = tmp_path / "models"
    shutil.copytree(MODELS / MODEL, models / MODEL)
    card_path = models / MODEL / "model.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["training"]["config"]["data"]["label_window"] = [0.5, 4.0]
    card_path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    out = tmp_path / "live"
    run = CliRunner().invoke(main, ["evaluate", MODEL, "--models-dir", str(models), "--data", str(path), "--live",
                                    "--speed", "32", "--labels", "T1=fists,T2=feet", "--bad-events", "1023",
                                    "--out", str(out)], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    res = json.loads((out / "evaluation_live.json").read_text(encoding="utf-8"))
    vs = res["files"][0]["service_vs_offline"]
    assert res["trials_left_out"][0]["n"] == 3 and vs["left_out"] == 3 and vs["service"]["trials"] == n_cues, vs
    assert res["bad_events"] == ["1023"]
    assert "(every cue; 3 of them left out of the accuracy table" in run.output



@pytest.mark.parametrize("dotenv", [None, "BCI_STREAM_LOG_LEVEL=info"])
def test_no_progress_prints_no_info_line_and_counts_trials_of_the_trial_classes_only(marked, dotenv,
                                                                                     tmp_path: Path) -> None:
    """``--no-progress`` with ``--live``: the service's warnings about the NaN stretch may show, its INFO lines (the
    warning's end, naming a decoder id the user never saw) do not (audit s61train F12: its workers' level now goes
    with the service's settings, not this process's environment). With the card's label map (``T0=rest`` too), the
    rest segments that touch marked data are unlabelled but not counted as trials left out (audit s61train F8:
    "left out 5 trial(s) ... (fists 1, rest 3, feet 1)" for 2 trials). A real ``bci-stream`` process: its workers'
    lines go to its stderr. A level the user set (here in a ``.env`` file) is kept (review s62 F3)."""
    import os
    import subprocess
    import sys

    from bci_stream.train.evaluate.offline import evaluate_target

    path, _, _ = marked
    env = {k: v for k, v in os.environ.items() if k.upper() != "BCI_STREAM_LOG_LEVEL"}
    if dotenv:
        (tmp_path / ".env").write_text(dotenv + "\n", encoding="utf-8")
    run = subprocess.run([str(Path(sys.executable).parent / "bci-stream"), "evaluate", MODEL, "--models-dir",
                          str(MODELS), "--data", str(path), "--live", "--no-progress", "--speed", "32"],
                         capture_output=True, text=True, timeout=170, env=env, cwd=tmp_path)
    said = run.stdout + run.stderr
    assert run.returncode == 0 and "PASSED" in said, said
    # (the NaN stretch's WARNING shows only when a one-second block of the samples as pulled holds most of it: at 32x
    # on a loaded machine a pull may span it and more, and no warning is due; a CI run of s63 saw none). Its end is
    # the one INFO line of the run: shown only at the level the .env sets (a rehearsal of s65 saw neither line at
    # info level: the test asked for the INFO line whether or not its WARNING came)
    warned = "of the last second's samples had a value" in said
    assert (" INFO " in said) == (bool(dotenv) and warned), said
    if dotenv:
        return
    offline = evaluate_target(MODEL, [path], models_dir=MODELS, times_s=TIMES)
    by_class = {c: n for why in offline["trials_left_out"][0]["by_reason"].values() for c, n in why.items()}
    assert "rest" not in by_class and sum(by_class.values()) == offline["trials_left_out"][0]["n"] == 2, offline
    sentence = next(n for n in offline["notes"] if n.startswith("left out 2 trial(s) of marked_raw.fif: "))
    assert f"note: {sentence}" in said


def test_live_runs_its_service_on_the_port_given(marked) -> None:
    """``--port``: the in-process service listens there (a carried item: it always took a free port); a port in use
    is refused before any work, and ``--port`` without ``--live`` is a usage error."""
    import socket

    path, _, _ = marked
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    args = ["evaluate", MODEL, "--models-dir", str(MODELS), "--data", str(path), "--labels", "T1=fists,T2=feet"]
    run = CliRunner().invoke(main, [*args, "--live", "--speed", "32", "--port", str(free)], catch_exceptions=False)
    assert run.exit_code == 0 and f"service on http://127.0.0.1:{free}; model " in run.output, run.output
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        run = CliRunner().invoke(main, [*args, "--live", "--port", str(busy)], catch_exceptions=False)
    assert run.exit_code == 2 and f"port (--port) {busy}: port {busy} on 127.0.0.1 is in use" in run.output, run.output
    assert "service on" not in run.output
    run = CliRunner().invoke(main, [*args, "--port", str(free)])
    assert run.exit_code == 2 and "--port needs --live" in run.output, run.output
