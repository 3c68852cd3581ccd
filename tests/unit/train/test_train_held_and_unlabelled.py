"""``bci-stream train`` on recordings with NaN stretches and data marked bad, as ``calibrate`` treats them: the NaN
are held as the service holds them, the samples of every bad span (NaN stretch + settling, ``BAD_*``, an event of
``data.bad_events``) and the labelled segments reaching into them get label -1, the standardisation is fitted without
them, and a note per file says so (report and card). A file whose used channels hold no finite sample is refused.
Before this, train refused any NaN (every real BCI IV 2a GDF file: its gaps between runs read as NaN) and ignored
``BAD_*`` marks.

Real EEG: the repository's S001 subset (21 channels, 160 Hz), R06 / R05 written by mne as FIF with marks and NaN
(:func:`support.marked.marked_fif`), R05 and R10 as their EDF; the tiny two-epoch config of the other train tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.core.card import CARD_FILE  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.train.classical.bad_spans import settle_s  # noqa: E402
from bci_stream.train.config import ConfigError, load_config  # noqa: E402
from bci_stream.train.dataset import check_data, crop, prepare_dataset  # noqa: E402
from support.marked import R05, R06, SFREQ, cues, marked_fif  # noqa: E402
from support.train_data import CHANNELS, tiny_config_text  # noqa: E402

NAN_S = (10.0, 10.5)  # a NaN stretch on C3 and Cz (training part of R06)
BLINK = (25.0, 1.0, "BAD_blink")  # training part of R06
REJECT = (33.0, 0.0, "1023")  # validation tail of R06 (data.bad_events)
REACH_S = 4.0  # evaluation.curve_max_s (default), the latest decision the tiny config scores after an onset


def _rows(names: list[str]) -> list[int]:
    chans = load_recording(R06).ch_names
    return [next(i for i, c in enumerate(chans) if c.rstrip(".").lower() == n.lower()) for n in names]


@pytest.fixture(scope="module")
def r06(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("held")
    return marked_fif(out / "r06_raw.fif", src=R06, extra=[BLINK, REJECT],
                      nan=[(_rows(["C3", "Cz"]), *NAN_S, np.nan)])


def _config(tmp_path: Path, r06: Path, *, extra: str = "", data: str = 'bad_events = ["1023"]', export: bool = False,
            quick: bool = False, edit=lambda text: text):
    text = tiny_config_text(tmp_path / "out", export_dir=tmp_path / "model" if export else None,
                            **({"bidirectional": False, "lookaheads": "[4]"} if quick else {}), extra=extra)
    text = text.replace('train = ["S001R06.edf", "S001R05.edf"]', f'train = ["{r06}", "S001R05.edf"]').replace(
        'tail_files = ["S001R06.edf"]', f'tail_files = ["{r06}", "S001R05.edf"]\n{data}')  # REJECT: R06's tail, no feet
    text = edit(text)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _labels_of(ds, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """The labels and raw µV of ``source`` over its whole (cropped) length, training part and validation tail."""
    seqs = sorted([s for s in ds.train + ds.validation if Path(s.source) == source], key=lambda s: s.start)
    return np.concatenate([s.labels for s in seqs]), np.concatenate([s.raw for s in seqs], axis=1)


def _segments(labels: np.ndarray) -> list[tuple[int, int]]:
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, np.r_[starts[1:], len(labels)]) if labels[a] >= 0]


def test_a_nan_stretch_a_bad_mark_and_a_bad_event_unlabel_their_samples_and_the_segments_reaching_them(
        tmp_path: Path, r06: Path) -> None:
    ds = prepare_dataset(_config(tmp_path, r06))
    labels, raw = _labels_of(ds, r06)
    before = crop(load_recording(r06, label_map={"T0": "rest", "T1": "fists", "T2": "feet"}, ch_names=CHANNELS),
                  (0.0, 40.0))
    assert len(labels) == before.n_times and ds.label_names == before.label_names
    settle = int(np.ceil(settle_s(SFREQ) * SFREQ))
    a, b = (int(round(t * SFREQ)) for t in NAN_S)
    spans = [(a, b + settle), (int(BLINK[0] * SFREQ), int((BLINK[0] + BLINK[1]) * SFREQ)),
             (int(REJECT[0] * SFREQ), int(REJECT[0] * SFREQ) + 1)]
    for lo, hi in spans:  # the bad samples themselves
        assert (labels[lo:hi] == -1).all()
    reach = int(REACH_S * SFREQ) + 1
    dropped = 0
    for onset, stop in _segments(before.labels):  # each segment kept whole or unlabelled whole, by its reach
        hits = any(lo < max(stop, onset + reach) and hi > onset for lo, hi in spans)
        assert (labels[onset:stop] == (-1 if hits else before.labels[onset])).all(), (onset, stop)
        dropped += hits
    assert 3 <= dropped < len(_segments(before.labels)) - 3  # some segments go, most stay
    # held as the service does: the last finite value of the channel, on the channels that were NaN only
    rows = [ds.ch_names.index(c) for c in ds.ch_names if c.rstrip(".").lower() in ("c3", "cz")]
    assert len(rows) == 2 and np.isfinite(raw).all() and all(np.isfinite(s.x).all() for s in ds.train + ds.validation)
    assert (raw[rows, a:b] == raw[rows, a - 1:a]).all()
    np.testing.assert_array_equal(raw[:, :a], before.data[:, :a])
    note = next(n for n in ds.info["notes"] if n.startswith("r06_raw.fif: "))
    assert note.startswith("r06_raw.fif: 160 non-finite value(s) (NaN/inf) on 2 channel(s) (")
    assert ("in 1 stretch(es), the first at t=10.000 s, were replaced by the channel's last finite value (nan_policy "
            "hold") in note
    assert f"of its 3 bad span(s) and {dropped} labelled segment(s) reaching into them: " in note
    assert re.search(r"overlap non-finite samples \+ \d\.\d s settling \(", note) and "overlap BAD_blink (" in note
    assert "overlap 1023 (" in note
    assert not any(n.startswith("S001R05") for n in ds.info["notes"])  # a clean file: nothing to say
    (row,) = ds.info["unlabelled"]
    assert row["file"] == "r06_raw.fif" and row["held_values"] == 160 and row["segments_unlabelled"] == dropped


def test_standardisation_is_fitted_without_the_bad_spans(tmp_path: Path, r06: Path) -> None:
    """A 2 mV step on C3 inside a BAD mark: the standardisation is that of the same file without the step."""
    mark = [(14.0, 4.0, "BAD_step")]
    clean = marked_fif(tmp_path / "clean_raw.fif", src=R06, extra=mark)
    step = marked_fif(tmp_path / "step_raw.fif", src=R06, extra=mark, nan=[(_rows(["C3"]), 15.0, 16.0, 2000.0)])
    ds = [prepare_dataset(_config(tmp_path / name, path, data="")) for name, path in (("clean", clean), ("step", step))]
    np.testing.assert_allclose(ds[1].preprocessing.std, ds[0].preprocessing.std, rtol=0.01)
    labels, _ = _labels_of(ds[1], step)  # a BAD mark alone (no NaN): its samples unlabelled, no settling after it
    assert (labels[int(14 * SFREQ):int(18 * SFREQ)] == -1).all() and (labels[int(18 * SFREQ):] >= 0).any()
    assert "of its 1 bad span(s) and " in ds[1].info["notes"][0] and "overlap BAD_step (" in ds[1].info["notes"][0]


def test_bad_events_that_are_classes_are_refused_absent_ones_said_and_one_before_its_cue_marks_it(
        tmp_path: Path, r06: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("data.bad_events ['T1'] are also mapped to a class by "
                                                    "data.label_map")):
        _config(tmp_path, r06, data='bad_events = ["T1", "T0x"]')
    ds = prepare_dataset(_config(tmp_path, r06, data='bad_events = ["1023", "T9"]'))
    assert any(n.startswith("data.bad_events names event(s) ['T9'] that no file has: no trial is left out for them")
               for n in ds.info["notes"]), ds.info["notes"]
    cue = next(onset for onset, _ in cues(R06) if onset > 10 * SFREQ) / SFREQ
    early = marked_fif(tmp_path / "early_raw.fif", src=R06, extra=[(cue - 1.0, 0.0, "1023")])  # 2a: at 768, cue - 2 s
    notes = prepare_dataset(_config(tmp_path, early, edit=lambda t: t.replace('T0 = "rest"', 'T0 = ""'))).info["notes"]
    assert "1 overlap 1023 (" in " ".join(notes), notes  # without a duration, just before its cue: marks that trial


def test_a_refusal_for_lack_of_labelled_data_says_what_the_bad_spans_unlabelled(tmp_path: Path) -> None:
    whole = marked_fif(tmp_path / "whole_raw.fif", src=R06, extra=[(0.0, 60.0, "BAD_all")])
    with pytest.raises(ConfigError, match=re.escape("(after unlabelling the labelled segments that reach into data "
                                                    "marked bad: NaN stretches, bad* marks, boundaries, "
                                                    "data.bad_events; segments per file: whole_raw.fif ")):
        check_data(_config(tmp_path, whole, data=""))


def test_a_file_without_a_finite_sample_on_its_used_channels_is_refused_naming_it(tmp_path: Path) -> None:
    every = list(range(len(load_recording(R05).ch_names)))
    dead = marked_fif(tmp_path / "dead_raw.fif", src=R05, nan=[(every, 0.0, 40.0, np.nan)])
    with pytest.raises(ConfigError, match=re.escape(f"data: {dead}: all used channel(s) (")
                       + ".*" + re.escape("hold no finite sample within ±1 V (only NaN, inf or larger values, which "
                                          "no EEG reaches: a broken channel, or a file whose unit is not the one it "
                                          "declares) in the part read (data.crop_s); training needs data: leave the "
                                          "file out")):
        check_data(_config(tmp_path, dead))
    one = marked_fif(tmp_path / "one_raw.fif", src=R05, nan=[(_rows(["C4"]), 0.0, 40.0, np.inf)])
    with pytest.raises(ConfigError, match=re.escape(f"data: {one}: 1 of the 8 used channel(s) (C4")):
        check_data(_config(tmp_path, one))


def test_a_run_on_held_and_unlabelled_data_trains_exports_and_says_so(tmp_path: Path, r06: Path) -> None:
    from click.testing import CliRunner

    from bci_stream.cli import main

    cfg = _config(tmp_path, r06, export=True, quick=True,
                  extra="csp_lda = true\n[evaluation.distillation]\nenabled = false")
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(tmp_path / "run.toml")])
    assert res.exit_code == 0, res.output
    report = json.loads((cfg.out_dir / "report.json").read_text())
    card = json.loads((tmp_path / "model" / CARD_FILE).read_text())
    note = next(n for n in report["notes"] if n.startswith("r06_raw.fif: 160 non-finite value(s)"))
    assert note in card["training"]["notes"]
    assert card["training"]["unlabelled"] == report["data"]["unlabelled"]
    assert report["models"]["causal"]["test"]["n_trials"] > 0 and "csp_lda" in json.dumps(report)
