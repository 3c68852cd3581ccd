"""``bci-stream evaluate`` says when cues come closer than its decision times, and that a lookahead net's figures are
offline only (before: neither was said; ``train`` and ``calibrate`` warned of close cues, ``evaluate`` did not, and
only a fully bidirectional checkpoint got the non-causal note).

Real EEG: a BCI2000 P300 oddball (the shared data's ``eeg2_1.dat``, 64 channels of the EEGMMIDB cap, a flash every
1.5 s, ``StimulusType`` 1/0 = target/nontarget) decoded by the bundled ``eegmmidb-s001-gru`` (its classes stand for
target/nontarget here: the warning is about the cues, not the model); EEGMMIDB S001R10 (tests/data), whose task cues
are each followed by the rest cue ``T0`` 4.1 s later; random-weight checkpoints for the lookahead note.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from click.testing import CliRunner  # noqa: E402

from bci_stream.cli import main  # noqa: E402
from bci_stream.train.evaluate.offline import evaluate_target  # noqa: E402
from support.common import REPO, SHARED_DATA, SUBSET_S001_21CH, require_full_data, subset_file  # noqa: E402

GRU = REPO / "models" / "eegmmidb-s001-gru"
R10 = SUBSET_S001_21CH / "S001R10.edf"
RULE = ("the next event that ends a cue (the next cue, an event the label map leaves out such as a rest cue, or a "
        "discontinuity; median gap {gap} s) comes at or before the decision time for ")
WHY = (": those trials are decided on what followed them, the next cue's response included, so their accuracy does "
       "not measure single-trial decoding")


def _oddball(tmp_path: Path) -> Path:
    """The first 40 s of eeg2_1.dat with its StimulusType cues (flashes every 1.5 s), as an .npz file."""
    from bci_stream.io import Recording, load_recording, save_npz

    rec = load_recording(require_full_data(SHARED_DATA / "bci2000" / "eeg2_1.dat"), type_state="StimulusType")
    n = int(40 * rec.sfreq)
    piece = Recording(data=rec.data[:, :n], sfreq=rec.sfreq, ch_names=rec.ch_names,
                      events=[e for e in rec.events if e.onset < n], source="oddball")
    return save_npz(piece, tmp_path / "oddball.npz")


def test_flashes_closer_than_the_decision_times_are_warned_of_in_the_output_json_and_report(tmp_path: Path) -> None:
    data, out = _oddball(tmp_path), tmp_path / "out"
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(data), "--labels", "1=fists,0=feet",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    # 24 flashes from 4.5 s to 39 s; every one decided at t (cue + t inside the 40 s) has the next 1.5 s on
    want = (f"oddball.npz: 24 cue(s) of the trial classes; {RULE.format(gap='1.50')}23 of them at 2 s, 22 of them at "
            f"2.5 s, 22 of them at 3 s{WHY} (decide before the next event: --decision-times below the cue spacing, "
            "or map only cues spaced at least that far apart)")
    assert f"warning: {want}\n" in res.output  # nothing at 0.5 s and 1 s: the next flash is 1.5 s on
    spacing, *rest = json.loads((out / "evaluation.json").read_text())["evaluation"]["warnings"]
    assert spacing == want  # (and a motor-imagery model on an oddball run gives every flash one class: said too)
    assert [w.split(" (per class")[0] for w in rest] == ["at 0.5s, 1s, 2s, 2.5s and 3s after the cue every trial was "
                                                        "decided 'fists'"]
    assert want in (out / "evaluation.md").read_text()


def test_eegmmidb_cues_get_no_warning_before_their_rest_cue() -> None:
    """Each task cue of S001R10 is followed by T0 (rest) 4.1 s on, the next task cue 8.3 s on: no warning at 0.5 to
    3 s, whether T0 is mapped (to rest) or left out of the map (it still ends the cue, as evaluate labels cues); at
    4.5 s, the cues whose T0 comes before it."""
    r10 = subset_file(R10)
    for labels in ({"T0": "rest", "T1": "fists", "T2": "feet"}, {"T1": "fists", "T2": "feet"}):
        assert evaluate_target(str(GRU), [r10], label_map=labels)["warnings"] == []
        late = evaluate_target(str(GRU), [r10], label_map=labels, times_s=(2.0, 3.0, 4.5))["warnings"]
        assert len(late) == 1 and late[0].startswith(f"S001R10.edf: 15 cue(s) of the trial classes; "
                                                     f"{RULE.format(gap='4.10')}14 of them at 4.5 s{WHY}"), late


def _checkpoint(path: Path, lookahead: int | None) -> Path:
    """A real checkpoint file of a random-weight BiRNN(lookahead) on 3 channels of EEGMMIDB."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.checkpoint import save_checkpoint
    from bci_stream.train.nets.birnn import BiRNN

    torch.manual_seed(0)
    meta = {"ch_names": ["C3..", "Cz..", "C4.."], "sfreq": 160.0, "label_names": ["rest", "fists", "feet"],
            "preprocessing": PreprocessingConfig(bandpass=(8.0, 30.0)).model_dump(),
            "label_map": {"T0": "rest", "T1": "fists", "T2": "feet"}, "trial_classes": ["fists", "feet"],
            "run": "no-such-run"}
    save_checkpoint(path, BiRNN(3, 3, hidden_size=4, lookahead=lookahead).eval(), meta)
    return path


def test_a_lookahead_checkpoint_is_said_to_be_non_causal_and_offline_only(tmp_path: Path) -> None:
    ckpt, out = _checkpoint(tmp_path / "lookahead_8.pt", 8), tmp_path / "out"
    res = CliRunner().invoke(main, ["evaluate", str(ckpt), "--data", str(subset_file(R10)), "--out", str(out)])
    assert res.exit_code == 0, res.output
    words = ("non-causal: lookahead_8 is a bidirectional net with a lookahead of K = 8 samples, 0.05 s; each of its "
             "outputs used the samples up to K after its own, so the figure at each decision time t read data up to "
             "t + K, which a causal decoder deciding at t has not seen: these are offline figures, not what the "
             "causal service can reach at t (a bidirectional net is not deployable: export refuses it and the "
             "service, which runs exported causal step graphs only, never runs it")
    assert f"note: {words}" in res.output
    assert "lookahead_8 (checkpoint, non-causal: lookahead K=8, offline) on 1 file(s)" in res.output
    got = json.loads((out / "evaluation.json").read_text())["evaluation"]
    assert got["non_causal"].startswith(words) and got["notes"][0] == got["non_causal"]
    assert words in (out / "evaluation.md").read_text()
    # K = 0: its outputs read no later sample; nothing to say of causality (it does not deploy either)
    zero = evaluate_target(str(_checkpoint(tmp_path / "lookahead_0.pt", 0)), [subset_file(R10)])
    assert zero["non_causal"] is None and not any("non-causal" in n for n in zero["notes"])
