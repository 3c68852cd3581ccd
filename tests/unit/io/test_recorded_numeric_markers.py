"""A marker stream recorded by bci-stream (``bci-stream record``: raw, every code as text, ``"0"`` included) from a
one-channel numeric stream without a rate is read back as the live follower reads that stream: a ``"0"`` ("trigger
off") is an event only with ``zero`` (the label map names ``"0"``), a ``"nan"`` never. The recorder writes the
source's ``channel_format``, ``channel_count`` and ``nominal_srate`` into ``desc/marker_stream`` so the reader can
tell such a stream from a string stream whose ``"0"`` is a real marker (which, like files without these fields, reads
as before).

Files written by the real :class:`~bci_stream.service.recorder.Recorder`, read by pyxdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bci_stream.io import Event, load_recording
from bci_stream.service.recorder import Recorder

SFREQ = 100.0
CODES = [(1.0, "1"), (1.05, "0"), (3.0, "2"), (3.05, "0"), (5.0, "nan"), (6.0, "1"), (6.05, "0")]


def record(path: Path, source: dict[str, Any]) -> Path:
    """8 s of a 100 Hz input and ``CODES`` (marker stream ``source``) as ``bci-stream record`` writes them."""
    rec = Recorder(path, dict(name="amp", type="EEG", ch_names=["C3", "C4"], sfreq=SFREQ, channel_format="float32",
                              source_id="amp-1", unit="microvolts"), None, flush_interval=0.05)
    rec.marker_stream({"name": "amp-markers", "type": "Markers", "source_id": "amp-m", "hostname": "h", **source},
                      connected_at=0.5)
    x = np.random.default_rng(2).normal(0, 10, (800, 2)).astype(np.float32)
    rec.inputs(x, np.arange(800) / SFREQ)
    rec.clock_offset(0.0, 0.0)
    rec.marker_clock_offset(0.0, 0.0)
    for t, value in CODES:
        rec.marker(t, value)
    rec.close()
    return path


NUMERIC = {"channel_format": "numeric", "n_chans": 1}  # as the follower's stream dict gives them


def test_the_header_says_the_source_shape() -> None:
    from bci_stream.service.recorder import source_format

    assert source_format(NUMERIC) == {"channel_format": "numeric", "channel_count": 1}
    assert source_format({"format": "int32", "channel_format": "numeric", "n_chans": 1, "nominal_srate": 0.0}) == \
        {"channel_format": "int32", "channel_count": 1, "nominal_srate": 0.0}
    assert source_format({"name": "x"}) == {}


def test_zero_codes_of_a_recorded_numeric_stream_are_no_events_unless_the_map_names_0(tmp_path: Path) -> None:
    path = record(tmp_path / "num.xdf", NUMERIC)
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(path))
    mk = next(s for s in streams if s["info"]["type"] == ["Markers"])
    assert [v[0] for v in mk["time_series"]] == [v for _, v in CODES]  # the file keeps every code as received
    source = mk["info"]["desc"][0]["marker_stream"][0]
    assert (source["channel_format"], source["channel_count"]) == (["numeric"], ["1"])
    cues = [Event(100, 0, "1"), Event(300, 0, "2"), Event(600, 0, "1")]
    assert load_recording(path).events == cues
    assert load_recording(path, cues={"1": "left", "2": "right"}).events == cues
    with_zero = load_recording(path, cues={"0": "rest", "1": "left", "2": "right"}).events
    assert with_zero == [Event(100, 0, "1"), Event(105, 0, "0"), Event(300, 0, "2"), Event(305, 0, "0"),
                         Event(600, 0, "1"), Event(605, 0, "0")]
    assert load_recording(path, zero=True).events == with_zero


@pytest.mark.parametrize("source", [
    {"channel_format": "string", "n_chans": 1},  # a stimulus program's string "0" is a marker
    {"channel_format": "numeric", "n_chans": 3},  # annotations: channel labels, never "0" codes
    {"format": "int32", "channel_format": "numeric", "n_chans": 1, "nominal_srate": 100.0},  # a trigger channel
    {},  # a recording made before the header said the source's shape: read as before
], ids=["string", "three channels", "with a rate", "no shape"])
def test_other_sources_keep_their_zero_strings(tmp_path: Path, source: dict[str, Any]) -> None:
    events = load_recording(record(tmp_path / "other.xdf", source)).events
    assert [e.description for e in events] == ["1", "0", "2", "0", "nan", "1", "0"]


def test_an_lsl_format_name_in_the_header_is_read_as_numeric(tmp_path: Path) -> None:
    path = record(tmp_path / "int32.xdf", {"format": "int32", "channel_format": "numeric", "n_chans": 1,
                                           "nominal_srate": 0.0})
    assert [e.description for e in load_recording(path).events] == ["1", "2", "1"]


def test_live_code() -> None:
    from bci_stream.io.marker_codes import live_code

    assert [live_code(t, False) for t in ("3", "0", "-0", "2.5", "nan", "inf", "x")] == \
        [["3"], [], [], ["2.5"], [], [], ["x"]]
    assert live_code("0", True) == ["0"] and live_code("0.0", True) == ["0"]


def test_a_recorded_string_stream_of_two_channels_gives_the_first_channel_as_a_decoder_does(tmp_path: Path) -> None:
    """``bci-stream record`` writes a 2-channel string sample ``[T1, extra]`` as ``T1`` and ``extra`` at one time; a
    decoder follows the first channel only, so calibrate read ``extra`` as a cue no decoder receives (audit
    s62interop F2). The header says the file holds every channel (``every_channel``): read back, the first value at
    each time. A decoder's own recording (first channel only, no such header) keeps each of its markers."""
    markers = [(1.0, "T1"), (1.0, "extra"), (3.0, "T2"), (5.0, "T0"), (5.0, "x")]

    def written(path: Path, source: dict[str, Any]) -> list[str]:
        rec = Recorder(path, dict(name="amp", type="EEG", ch_names=["C3", "C4"], sfreq=SFREQ,
                                  channel_format="float32", source_id="amp-1", unit="microvolts"), None,
                       flush_interval=0.05)
        rec.marker_stream({"name": "amp-markers", "type": "Markers", "source_id": "amp-m", **source}, connected_at=0.5)
        rec.inputs(np.zeros((800, 2), dtype=np.float32), np.arange(800) / SFREQ)
        rec.clock_offset(0.0, 0.0)
        rec.marker_clock_offset(0.0, 0.0)
        for t, value in markers:
            rec.marker(t, value)
        rec.close()
        return [e.description for e in load_recording(path).events]

    two = {"channel_format": "string", "n_chans": 2}
    assert written(tmp_path / "record.xdf", {**two, "every_channel": 1}) == ["T1", "T2", "T0"]
    assert written(tmp_path / "decoder.xdf", two) == [v for _, v in markers]
    # a blank first channel is no marker, live or read back; the other channels' values at its time are none either
    markers[:] = [(1.0, ""), (1.0, "extra"), (3.0, "T2"), (5.0, " "), (7.0, "T0")]
    assert written(tmp_path / "blank.xdf", {**two, "every_channel": 1}) == ["T2", "T0"]


def test_a_blank_string_is_no_marker_but_is_recorded_raw() -> None:
    """A sender pushing "" between cues (every sample of a string stream with a rate: audit s64interop F3) sent a
    marker "" per sample, flooding the status's unmapped values and recent markers."""
    from bci_stream.io.marker_codes import marker_values, stream_markers

    assert [marker_values([v], True, None) for v in ("", " ", "T1", "0")] == [[], [], ["T1"], ["0"]]
    assert marker_values(["", "x"], True, None) == [] and marker_values(["T1", "x"], True, None) == ["T1"]
    assert marker_values([""], True, None, raw=True) == [""]  # `record` keeps every sample as received
    times, texts = stream_markers([[""], ["T1"], [""], [""], ["T2"]], np.arange(5.0), is_string=True, srate=100.0,
                                  labels=None)
    assert (times.tolist(), texts) == ([1.0, 4.0], ["T1", "T2"])


@pytest.mark.parametrize(("labels", "series", "want"), [
    (["T1", "T2"], [[0, 0], [1, 0], [1, 0], [0, 0], [0, 1], [0, 1], [1, 1], [0, 0]], [(1, "T1"), (4, "T2"), (6, "T1")]),
    (None, [[0, 0], [0, 7], [0, 7], [np.nan, 7], [0, 7], [3, 0]], [(1, "7"), (5, "3")]),
    (["T1", "T2"], [[1, 0], [1, 0], [0, 0], [1, 0]], [(0, "T1"), (3, "T1")]),  # on at the first sample: a cue
], ids=["two labelled channels", "unlabelled, a NaN holds", "on at the start"])
def test_a_numeric_marker_stream_of_several_channels_with_a_rate_gives_a_marker_where_a_level_changes(
        labels, series, want) -> None:
    """One channel per code at a nominal rate, each code held for some samples: one marker where a level changes to a
    non-zero one, live and read from a file; before, every sample was a marker (a code held 40 samples was 40
    trials: audit s64interop F3)."""
    from bci_stream.io.marker_codes import TriggerEdges, stream_markers

    stamps = np.arange(len(series)) / 160.0
    live = TriggerEdges(labels, 160.0)
    assert [(i, v) for i, (sample, t) in enumerate(zip(series, stamps)) for v in live.values(sample, t)] == want
    times, texts = stream_markers(series, stamps, is_string=False, srate=160.0, labels=labels)
    assert list(zip(np.round(times * 160).astype(int).tolist(), texts)) == want
    one = TriggerEdges()  # one numeric channel: the trigger channel's rule, as before
    assert [v for s in ([0], [3], [3], [np.nan], [0], [3], [5]) for v in one.values(s)] == ["3", "3", "5"]


def test_a_stream_with_a_rate_pushed_a_sample_per_cue_gives_every_cue() -> None:
    """Review s64 F2: a sender that declares a rate but pushes a sample per cue (1.5 s apart) lost its first cue and
    each repeat of the one before under a level rule; each sample not adjacent to the one before is read from 0. A
    string stream with a rate gives each non-blank sample, as before."""
    from bci_stream.io.marker_codes import TriggerEdges, stream_markers

    cues = [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1]]
    stamps = 10.0 + 1.5 * np.arange(5)
    live = TriggerEdges(["left", "right"], 10.0)
    assert [v for sample, t in zip(cues, stamps) for v in live.values(sample, t)] == \
        ["right", "right", "left", "left", "right"]
    times, texts = stream_markers(cues, stamps, is_string=False, srate=10.0, labels=["left", "right"])
    assert texts == ["right", "right", "left", "left", "right"] and times.tolist() == stamps.tolist()
    words = [["left"], ["left"], ["right"], [""], ["right"]]
    assert stream_markers(words, stamps, is_string=True, srate=10.0, labels=None)[1] == \
        ["left", "left", "right", "right"]
