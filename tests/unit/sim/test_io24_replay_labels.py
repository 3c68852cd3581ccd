"""``bci-stream replay --labels`` (evaluate's and calibrate's label-map option, same syntax) decides, by the rule of
``[data.reader] zero`` and of the decoders, which markers an XDF's numeric marker stream gives: a class coded 0 is
replayed as marker ``"0"`` when the map names ``0``; without it a 0 is "trigger off", no marker. The markers go out as
the file's codes (the decoder's own map labels them). A malformed map is a usage error naming the flag; an event the
map names that the file lacks (a typo) is a note.

A real XDF written by the project's XDF chunk writer (a stimulus program's int codes, as LabRecorder records them),
replayed by the real command, its markers received over real LSL on loopback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pylsl
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml
from support.common import TINY_CH_NAMES, test_signal, unique
from support.lsl import pull_all

SFREQ, N = 100.0, 450
CODES = [1, 0, 2, 0]  # left, rest (coded 0), right, rest: a program that codes a class as 0
AT = [50, 150, 250, 350]  # samples


@pytest.fixture(scope="module")
def coded_xdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = test_signal(N, seed=2).astype(np.float64)
    stamps = 50.0 + np.arange(len(x)) / SFREQ
    path = tmp_path_factory.mktemp("xdf") / "coded.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", TINY_CH_NAMES, SFREQ, "double64", unit="uV"), "double64",
                     len(TINY_CH_NAMES))
        w.write_numeric(1, stamps, x)
        w.add_stream(2, stream_header_xml("stim", "Markers", ["code"], 0.0, "int32"), "int32", 1)
        w.write_numeric(2, stamps[AT], np.array(CODES, dtype=np.int32)[:, None])
        for sid in (1, 2):
            w.write_clock_offset(sid, float(stamps[0]), 0.0)
            w.close_stream(sid)
    return path


def replayed_markers(path: Path, *options: str) -> tuple[list[str], str]:
    """The markers ``bci-stream replay PATH ... OPTIONS`` sends, received by an inlet of its own, and its output."""
    name, got, errors = unique("io24rl"), [], []

    def consume() -> None:  # the replay waits for a data consumer; its markers wait (3 s at most) for theirs
        try:
            data = pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{name}'", 1, 60.0)[0])
            data.open_stream(timeout=30.0)
            markers = pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{name}-markers'", 1, 60.0)[0])
            markers.open_stream(timeout=30.0)
            pull_all(data, N, 60.0)  # every sample: each marker was pushed with its sample's chunk
            while (sample := markers.pull_sample(timeout=1.0)[0]) is not None:
                got.append(sample[0])
            data.close_stream(), markers.close_stream()  # the replay (lingering) ends when its consumers leave
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    res = CliRunner().invoke(main, ["replay", str(path), "--name", name, "--speed", "5", "--wait-for-consumer",
                                    "60", "--linger", "30", *options])
    thread.join(30.0)
    assert res.exit_code == 0 and not errors, (res.output, errors)
    return got, res.output


def test_a_class_coded_0_is_replayed_when_the_map_names_0(coded_xdf: Path) -> None:
    got, out = replayed_markers(coded_xdf, "--labels", "0=rest,1=left", "--label", "2=right")
    assert got == ["1", "0", "2", "0"], out
    assert "4 events on" in out and "note:" not in out


def test_without_a_map_naming_0_a_0_is_trigger_off_and_no_marker(coded_xdf: Path) -> None:
    """Also with a map that does not name 0 (a typo ``O=rest`` for ``0=rest`` is named in a note)."""
    got, out = replayed_markers(coded_xdf, "--labels", "O=rest,1=left,2=right")
    assert got == ["1", "2"], out
    assert "2 events on" in out and "note: --labels names event(s) 'O' that no marker of coded.xdf is" in out


def test_a_malformed_map_is_a_usage_error_naming_the_flag(coded_xdf: Path) -> None:
    res = CliRunner().invoke(main, ["replay", str(coded_xdf), "--name", unique("io24rl"), "--labels", "0=rest,1"])
    assert res.exit_code == 2 and "--labels must be EVENT=CLASS" in res.output, res.output
