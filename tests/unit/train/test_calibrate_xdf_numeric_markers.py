"""`calibrate` and `evaluate` on LabRecorder XDF files whose stimulus program sent a numeric marker stream: int32 codes
with a "trigger off" 0 after each (pylsl int markers), float32 codes, mne-lsl ``PlayerLSL``'s annotations stream
(float32, one channel per description, labels in the desc) and a class coded 0 (``--labels 0=rest,...``). Each finds
the trials the string version of the same file gives. The reader took only string streams as marker candidates and
converted a value with ``str(v[0])``: without ``--marker-stream`` such a file had no events; with it, float codes
were ``"1.0"`` and an annotations stream gave only its first channel's value.

Real EEG: the repository's S001 R05/R06 subset (21 channels, 160 Hz, executed fists/feet), its T0/T1/T2 events
written as the marker stream of each layout, with the repository's own XDF chunk writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pyxdf")

from bci_stream.cli import main  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.io.errors import DataError  # noqa: E402
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml  # noqa: E402
from bci_stream.train.classical.calibration_inputs import load_calibration  # noqa: E402
from bci_stream.train.evaluate.inputs import load_for_model  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.marked import FAST_CHANNELS, R05, R06, SFREQ  # noqa: E402

T0 = 7000.0  # the first sample's timestamp (LSL clock, s)
OFF_S = 0.05  # a trigger-off 0 this long after each code
CODES = {"T1": 1, "T2": 2, "T0": 3}
ZERO_CODES = {"T0": 0, "T1": 1, "T2": 2}
STRING_LABELS = {"T1": "fists", "T2": "feet"}
CODE_LABELS = {"1": "fists", "2": "feet"}
DESCS = ["T0", "T1", "T2"]


def _marker_stream(w: XdfWriter, sid: int, kind: str, stamps: list[float], descs: list[str]) -> None:
    """Stream ``sid``: the events ``descs`` at ``stamps`` in layout ``kind``."""
    if kind == "string":
        w.add_stream(sid, stream_header_xml("stim", "Markers", ["m"], 0.0, "string"), "string", 1)
        w.write_strings(sid, stamps, descs)
        return
    if kind == "int32_off":  # a code, then 0 ("trigger off") 50 ms later
        w.add_stream(sid, stream_header_xml("stim", "Markers", ["code"], 0.0, "int32"), "int32", 1)
        ts = np.array([t + d for t in stamps for d in (0.0, OFF_S)])
        codes = np.array([[c] for desc in descs for c in (CODES[desc], 0)])
        w.write_numeric(sid, ts, codes)
        return
    if kind == "float32":
        w.add_stream(sid, stream_header_xml("stim", "Markers", ["code"], 0.0, "float32"), "float32", 1)
        w.write_numeric(sid, np.array(stamps), np.array([[float(CODES[d])] for d in descs]))
        return
    if kind == "int32_zero":  # a class coded 0, no trigger-off
        w.add_stream(sid, stream_header_xml("stim", "Markers", ["code"], 0.0, "int32"), "int32", 1)
        w.write_numeric(sid, np.array(stamps), np.array([[ZERO_CODES[d]] for d in descs]))
        return
    assert kind == "annotations"  # mne-lsl PlayerLSL: one channel per description, the duration one-hot (-1: 0 s)
    w.add_stream(sid, stream_header_xml("replay-annotations", "annotations", DESCS, 0.0, "float32", unit="none"),
                 "float32", len(DESCS))
    rows = np.zeros((len(descs), len(DESCS)))
    for k, desc in enumerate(descs):
        rows[k, DESCS.index(desc)] = 4.1 if desc != "T0" else -1.0
    w.write_numeric(sid, np.array(stamps), rows)


def numeric_xdf(path: Path, src: Path, kind: str) -> Path:
    """``src``'s samples as stream ``amp`` (µV) and its T0/T1/T2 events as a marker stream in layout ``kind``."""
    rec = load_recording(subset_file(src))
    stamps = T0 + np.arange(rec.n_times) / SFREQ
    events = [e for e in rec.events if e.description in DESCS]
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", rec.ch_names, SFREQ, "double64", unit="microvolts"),
                     "double64", rec.n_chans)
        w.write_numeric(1, stamps, rec.data.T)
        _marker_stream(w, 2, kind, [float(stamps[e.onset]) for e in events], [e.description for e in events])
        for sid in (1, 2):
            w.write_clock_offset(sid, float(stamps[0]), 0.0)
            w.write_clock_offset(sid, float(stamps[-1]), 0.0)
            w.close_stream(sid)
    return path


def _trials(paths: list[Path], labels: dict[str, str], **options: str) -> list[tuple[list[int], list[int]]]:
    prep = load_calibration(paths, labels, channels=FAST_CHANNELS, reader_options=options)
    return [(r.trials.onsets.tolist(), r.trials.classes.tolist()) for r in prep.runs]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Callable[[str], list[Path]]:
    root = tmp_path_factory.mktemp("numeric")
    made: dict[str, list[Path]] = {}

    def get(kind: str) -> list[Path]:
        if kind not in made:
            made[kind] = [numeric_xdf(root / f"{kind}_{src.stem}.xdf", src, kind) for src in (R05, R06)]
        return made[kind]

    return get


@pytest.mark.parametrize("kind, labels", [("int32_off", CODE_LABELS), ("float32", CODE_LABELS),
                                          ("annotations", STRING_LABELS)])
def test_a_numeric_marker_stream_gives_the_trials_of_the_string_one(files, kind: str, labels: dict[str, str]) -> None:
    want = _trials(files("string"), STRING_LABELS)
    assert sum(len(o) for o, _ in want) == 30  # R05 and R06: 15 T1 and 15 T2 in all
    assert _trials(files(kind), labels) == want  # found without --marker-stream: the only marker candidate
    assert _trials(files(kind), labels, marker_stream="stim" if kind != "annotations" else "replay-annotations") == want


def test_the_events_are_the_codes_and_a_trigger_off_zero_is_none(files) -> None:
    string = load_recording(files("string")[0])
    want = [(e.onset, str(CODES[e.description])) for e in string.events]
    for kind in ("int32_off", "float32"):
        assert [(e.onset, e.description) for e in load_recording(files(kind)[0]).events] == want, kind
    assert [(e.onset, e.description) for e in load_recording(files("annotations")[0]).events] == [
        (e.onset, e.description) for e in string.events]


def test_a_class_coded_zero_is_found_when_the_labels_name_it(files) -> None:
    want = _trials(files("string"), {"T0": "rest", "T1": "fists", "T2": "feet"})
    got = _trials(files("int32_zero"), {"0": "rest", "1": "fists", "2": "feet"})
    assert got == want and {0, 1, 2} <= {c for _, cs in got for c in cs}
    # train's reading (load_recording with the run config's label_map) keeps them too
    rec = load_recording(files("int32_zero")[0], label_map={"0": "rest", "1": "fists", "2": "feet"}, until_next=True)
    assert rec.label_names == ["rest", "fists", "feet"] and (rec.labels == 0).sum() > 20 * SFREQ
    # a map that does not name "0": the 0s are no events, the other classes are found as before
    assert _trials(files("int32_zero"), CODE_LABELS) == _trials(files("string"), STRING_LABELS)


def test_evaluate_spans_run_past_a_trigger_off_zero(files) -> None:
    """``evaluate`` labels each zero-duration cue until the next event that ends a cue: a trigger-off 0 50 ms after
    the code is no event, so the span runs to the next code (T0: rest), as the string file's does."""
    string = load_for_model(files("string")[1], STRING_LABELS, FAST_CHANNELS)
    coded = load_for_model(files("int32_off")[1], CODE_LABELS, FAST_CHANNELS)
    assert (string.labels >= 0).sum() > 50 * SFREQ  # 15 cues of about 4 s each
    np.testing.assert_array_equal(coded.labels, string.labels)


def test_calibrate_cli_on_int_codes_with_trigger_off(files, tmp_path: Path) -> None:
    run = CliRunner().invoke(main, ["calibrate", *map(str, files("int32_off")), "--labels", "1=fists,2=feet",
                                    "--name", "codes", "--out", str(tmp_path / "models"), "--channels",
                                    ",".join(FAST_CHANNELS), "--no-recurrent", "--no-average", "--no-combined",
                                    "--no-progress"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    report = json.loads((tmp_path / "models" / "codes" / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["trials_per_class"] == {"fists": 15, "feet": 15}


def test_several_numeric_marker_streams_need_marker_stream(tmp_path: Path, files) -> None:
    """Two irregular numeric streams and no string one: the error lists the streams and names the option."""
    rec = load_recording(files("string")[0])
    stamps = T0 + np.arange(rec.n_times) / SFREQ
    path = tmp_path / "two.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", rec.ch_names, SFREQ, "double64", unit="microvolts"),
                     "double64", rec.n_chans)
        w.write_numeric(1, stamps, rec.data.T)
        for sid, name in ((2, "stim-a"), (3, "stim-b")):
            w.add_stream(sid, stream_header_xml(name, "Markers", ["code"], 0.0, "int32"), "int32", 1)
            w.write_numeric(sid, stamps[[100, 900]], np.array([[1], [2]]))
        for sid in (1, 2, 3):
            w.close_stream(sid)
    with pytest.raises(DataError, match=r"has 2 candidate marker_streams; pass marker_stream=<name>.*'stim-a'"):
        load_recording(path)
    assert [e.description for e in load_recording(path, marker_stream="stim-b").events] == ["1", "2"]


def test_a_regular_trigger_stream_named_gives_a_marker_where_a_code_starts(tmp_path: Path, files) -> None:
    """A one-channel numeric stream with a rate beside the EEG (a trigger channel: 0 between codes, a code held for
    some samples), named by ``marker_stream``: an event where the value changes to a non-zero one, as the service
    reads such a stream live. Its first sample only sets the level (as mne's ``find_events`` and the live
    follower take it): R05's first event, T0 at sample 0, is held from before the recording and gives none."""
    string = load_recording(files("string")[0])
    stamps = T0 + np.arange(string.n_times) / SFREQ
    level = np.zeros(string.n_times)
    for e in string.events:
        level[e.onset:e.onset + 8] = CODES[e.description]  # held 50 ms
    path = tmp_path / "trig.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", string.ch_names, SFREQ, "double64", unit="microvolts"),
                     "double64", string.n_chans)
        w.write_numeric(1, stamps, string.data.T)
        w.add_stream(2, stream_header_xml("trig", "Trigger", ["STI"], SFREQ, "int16", unit="none"), "int16", 1)
        w.write_numeric(2, stamps, level[:, None])
        for sid in (1, 2):
            w.close_stream(sid)
    assert string.events[0].onset == 0
    want = [(e.onset, str(CODES[e.description])) for e in string.events[1:]]
    for options in ({"stream": "amp", "marker_stream": "trig"}, {"marker_stream": "trig"}):  # then amp is the signal
        got = load_recording(path, **options)
        assert got.ch_names == string.ch_names and [(e.onset, e.description) for e in got.events] == want
    with pytest.raises(DataError, match=r"has 2 candidate streams; pass stream=<name>"):  # no option: two signals
        load_recording(path)
