"""`bci-stream record`: an LSL stream and its markers to XDF with no model, at a rate no bundled model has (250 Hz),
read back sample for sample, losses counted, calibrated as it is; Ctrl-C/SIGTERM finish the file; refusals.

Real LSL on loopback, real files: the repository's EEGMMIDB S001R05 (21 channels) replayed by ``run_replay`` as a
250 Hz stream (its real samples, sent at 250 Hz as a lab's amplifier would), and pylsl outlets of the tests' own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pylsl
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import Recording, load_recording
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.record_only import RecordOnly
from bci_stream.service.record_summary import summary
from support.common import REPO, TINY_CH_NAMES, subset_file, test_signal, unique
from support.lsl import liblsl_deduced, paced_source, wait_for
from support.marked import FAST_CHANNELS, LABELS, R05
from support.session_xdf import crop

SFREQ = 250.0


def record_in_thread(rec: RecordOnly, stop: threading.Event, out: dict) -> threading.Thread:
    """``rec.run(stop)`` (opened already) on a thread; ``out["totals"]`` gets its result."""
    thread = threading.Thread(target=lambda: out.update(totals=rec.run(stop)), daemon=True)
    thread.start()
    return thread


def record_replayed(path, sent: Recording, out, speed: float) -> tuple[str, RecordOnly, object, int | None]:
    """``sent`` (read from ``path``) replayed by ``run_replay`` at ``speed`` (waiting for its consumer) and recorded by
    RecordOnly with no model into ``out`` until the recording holds every sample and marker: the stream's name, the
    recording, its totals and the samples the replay pushed."""
    from bci_stream.sim.replay import run_replay

    name, result = unique("rec-replayed"), {}
    replay = threading.Thread(target=lambda: result.update(pushed=run_replay(
        path, name, recording=sent, speed=speed, wait_for_consumer=30.0, linger=3.0)), daemon=True)
    replay.start()
    rec, stop, got = RecordOnly(out, name), threading.Event(), {}
    rec.open()
    thread = record_in_thread(rec, stop, got)
    try:
        wait_for(lambda: rec.counters.samples_in >= sent.n_times and rec.hub.received >= len(sent.events), 60.0,
                 "every sample and marker of the replay")
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
        replay.join(10.0)
    return name, rec, totals, result.get("pushed")


@pytest.fixture(scope="module")
def replayed_250(tmp_path_factory):
    """S001R05's first 90 s replayed at 250 Hz (speed 10) with its markers, recorded by RecordOnly with no model:
    ``(stream name, sent Recording, xdf path, totals, summary lines)``."""
    src = crop(load_recording(subset_file(R05)), 90.0)
    sent = Recording(data=src.data, sfreq=SFREQ, ch_names=src.ch_names, events=src.events, source=src.source)
    out = tmp_path_factory.mktemp("record") / "cal250.xdf"
    name, rec, totals, pushed = record_replayed(R05, sent, out, 10.0)
    assert rec.sfreq == SFREQ and pushed == sent.n_times
    return name, sent, out, totals, summary(rec, totals)


def test_a_250_hz_run_is_recorded_sample_for_sample_with_its_markers(replayed_250):
    name, sent, out, totals, said = replayed_250
    assert (totals.samples, totals.markers, totals.lost, totals.gaps) == (sent.n_times, len(sent.events), 0, 0)
    counts = Counter(e.description for e in sent.events)
    assert said[0] == (f"recorded {out}: {sent.n_times} samples of '{name}' (57.6 s at 250 Hz), "
                       f"{len(sent.events)} markers from '{name}-markers'; lost 0 samples in the timestamps")
    assert said[1] == "markers: " + ", ".join(f"{v!r} x{n}" for v, n in sorted(counts.items()))
    got = load_recording(out)
    assert got.sfreq == SFREQ and got.ch_names == sent.ch_names
    assert got.units() == ["microvolts"] * sent.n_chans  # the replay's declared unit, kept (µV as read)
    np.testing.assert_array_equal(got.data, sent.data.astype(np.float32).astype(np.float64))  # every sample, in order
    assert [(e.onset, e.description) for e in got.events] == [(e.onset, e.description) for e in sent.events]


def test_the_recording_calibrates_as_it_is(replayed_250, tmp_path):
    out = replayed_250[2]
    labels = ",".join(f"{k}={v}" for k, v in LABELS.items())
    res = CliRunner().invoke(main, ["calibrate", str(out), "--labels", labels, "--name", "s250", "--out",
                                    str(tmp_path), "--channels", ",".join(FAST_CHANNELS), "--no-recurrent",
                                    "--no-average", "--no-combined", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "250 Hz" in res.output
    assert (tmp_path / "s250").is_dir()


def test_losses_are_counted_volts_kept_and_a_named_marker_stream_followed(tmp_path):
    """A 250 Hz outlet in volts that skips 25 samples' timestamps; cues on a stream of another name."""
    name, n, hole_at, hole = unique("amp"), 2500, 1000, 25
    x = test_signal(n, seed=3) * 1e-6  # volts
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src", unit="V")
    outlet = pylsl.StreamOutlet(info, 10)
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-stim", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-stim-src"))
    rec, stop, got = RecordOnly(tmp_path / "v.xdf", name, marker_stream=f"{name}-stim"), threading.Event(), {}
    rec.open()
    thread = record_in_thread(rec, stop, got)
    try:
        wait_for(lambda: outlet.have_consumers() and cues.have_consumers(), 10.0, "the recorder's inlets")
        index = np.r_[0:hole_at, hole_at + hole:n + hole]  # sample numbers on the 250 Hz schedule: 25 never sent
        ts = pylsl.local_clock() + index / SFREQ
        marked = {200: "left", 1500: "right"}
        for i in range(0, n, 50):
            outlet.push_chunk(x[i:i + 50], ts[i:i + 50].tolist())
            for k in [k for k in marked if i <= k < i + 50]:
                cues.push_sample([marked[k]], float(ts[k]))
        wait_for(lambda: rec.counters.samples_in >= n and rec.hub.received >= 2, 60.0, "every sample and marker")
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    assert (totals.samples, totals.markers, totals.lost) == (n, 2, hole)
    rec_read = load_recording(tmp_path / "v.xdf")
    np.testing.assert_allclose(rec_read.data, x.T.astype(np.float32).astype(np.float64) * 1e6, rtol=1e-12)
    assert rec_read.units() == ["microvolts"] * len(TINY_CH_NAMES)
    # the file keeps the stamps as they came, the hole included, and each cue's own stamp (same host: offset 0)
    import pyxdf

    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(tmp_path / "v.xdf"), dejitter_timestamps=False)[0]}
    np.testing.assert_array_equal(streams[name]["time_stamps"], ts)
    assert list(streams[f"{name}-stim"]["time_stamps"]) == [ts[200], ts[1500]]
    assert (200, "left") in [(e.onset, e.description) for e in rec_read.events]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])  # SIGHUP: a terminal closed
def test_sigterm_or_ctrl_c_finishes_the_file_and_every_sample_is_in_order(tmp_path, sig):
    name, out = unique("term"), tmp_path / "t.xdf"
    outlet, pusher = paced_source(name, 60.0, seed=5)
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_for(lambda: out.exists() and out.stat().st_size > 20_000, 60.0, "samples in the file")
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20.0)
    finally:
        pusher.halt.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "recorded " in stdout and "warning: no marker was recorded: calibrate needs the cues" in stderr
    rec = load_recording(out)
    assert f"{rec.n_times} samples" in stdout
    sent = test_signal(60 * 500, seed=5)
    first = int(np.flatnonzero(np.all(sent == rec.data[:, 0].astype(np.float32), axis=1))[0])
    np.testing.assert_array_equal(rec.data, sent[first:first + rec.n_times].T.astype(np.float64))


def test_duration_ends_it_and_a_stream_without_units_in_volts_is_warned_about(tmp_path):
    """An outlet whose desc gives no unit (recorded as --input-unit, µV) sending volts: both said, at once."""
    from support.pacing import PacedPusher

    name, out = unique("dur"), tmp_path / "d.xdf"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 8, 500.0, "float32", f"{name}-src"))
    pusher = PacedPusher(outlet, test_signal(15_000, seed=6) * 1e-6, 500.0)
    pusher.start()
    try:
        res = CliRunner().invoke(main, ["record", "--stream", name, "--out", str(out), "--duration", "3"])
    finally:
        pusher.halt.set()
    assert res.exit_code == 0, res.output
    rec = load_recording(out)
    assert rec.n_times > 0 and f"recorded {out}: {rec.n_times} samples of '{name}'" in res.output
    assert f"warning: stream '{name}' declares no channel unit: recorded as 'uV'" in res.output
    assert "plausible if the values are in V" in res.output  # the amplitude check of the first 2 s
    assert "unit, or give (or correct) --input-unit" in res.output and "options.input_unit" not in res.output


def test_an_existing_out_is_refused_and_left_as_it_was(tmp_path):
    out = tmp_path / "old.xdf"
    out.write_bytes(b"a recording")
    res = CliRunner().invoke(main, ["record", "--stream", unique("none"), "--out", str(out)])
    assert res.exit_code == 2 and "never overwritten" in res.output
    assert out.read_bytes() == b"a recording"
    res = CliRunner().invoke(main, ["record", "--stream", unique("none"), "--out", str(tmp_path / "r.txt")])
    assert res.exit_code == 2 and f"--out must end in .xdf (an XDF file, which calibrate and replay read by its " \
                                  f"suffix), got '{tmp_path / 'r.txt'}'" in res.output, res.output
    assert not (tmp_path / "r.txt").exists()


def test_a_stream_that_is_not_there_is_named_with_the_visible_ones_the_likeliest_first(tmp_path):
    other = unique("other")
    outlet = pylsl.StreamOutlet(make_stream_info(other, "EEG", TINY_CH_NAMES, SFREQ, f"{other}-src"))
    missing = other.upper()  # a typo: the stream meant is listed first
    res = CliRunner().invoke(main, ["record", "--stream", missing, "--out", str(tmp_path / "m.xdf"),
                                    "--timeout", "1"])
    assert res.exit_code == 1
    assert f"no LSL stream matched name='{missing}' within 1 s; visible streams (" in res.output
    assert res.output.split("): ", 1)[1].startswith(f"'{other}' (EEG, 8 ch, 250 Hz, ")
    assert not (tmp_path / "m.xdf").exists()
    del outlet


def record_pushed(tmp_path, name: str, eeg: pylsl.StreamOutlet, cues: pylsl.StreamOutlet, x: np.ndarray,
                  sfreq: float, marked: dict[int, list]) -> tuple[Recording, list[str]]:
    """``x`` ``[n, n_chans]`` pushed at once on ``eeg`` stamped on a ``sfreq`` schedule, each ``marked`` sample's
    marker on ``cues`` with that sample's stamp, recorded by RecordOnly: the file read back and the summary."""
    out, rec, stop, got = tmp_path / f"{name}.xdf", RecordOnly(tmp_path / f"{name}.xdf", name), threading.Event(), {}
    rec.open()
    thread = record_in_thread(rec, stop, got)
    try:
        wait_for(lambda: eeg.have_consumers() and cues.have_consumers(), 10.0, "the recorder's inlets")
        ts = pylsl.local_clock() + np.arange(len(x)) / sfreq
        for i in range(0, len(x), 320):
            time.sleep(320 / sfreq / 10)  # 10x real time: a burst of more than the inlet's 60 s buffer would lose the
            eeg.push_chunk(x[i:i + 320], ts[i:i + 320].tolist())  # oldest samples while a loaded machine lags
            for k in [k for k in marked if i <= k < i + 320]:
                cues.push_sample(marked[k], float(ts[k]))
        wait_for(lambda: rec.counters.samples_in >= len(x) and rec.hub.received >= len(marked), 60.0,
                 "every sample and marker")
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    return load_recording(out), summary(rec, totals)


def test_numeric_code_0_is_recorded_and_calibrates_as_a_class(tmp_path):
    """Real EEG (S001R05, 160 Hz) with int32 cues coding T1 as 0, T2 as 1, T0 as 7: every code is in the file as its
    text (0 is a cue here, not "no event"), and calibrate --labels 0=fists,1=feet finds both classes."""
    src = crop(load_recording(subset_file(R05)), 90.0)
    name, code = unique("zero"), {"T1": 0, "T2": 1, "T0": 7}
    eeg = pylsl.StreamOutlet(make_stream_info(name, "EEG", src.ch_names, src.sfreq, f"{name}-src"))
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, "int32",
                                               f"{name}-markers-src"))
    marked = {e.onset: [code[e.description]] for e in src.events}
    got, said = record_pushed(tmp_path, name, eeg, cues, src.data.T.astype(np.float32), src.sfreq, marked)
    assert "0" not in {e.description for e in got.events}  # read as live: a 0 is no event unless the map names "0"
    got = load_recording(tmp_path / f"{name}.xdf", zero=True)  # the file keeps every code, 0 included
    assert [(e.onset, e.description) for e in got.events] == [(k, str(v[0])) for k, v in sorted(marked.items())]
    assert "'0' x" in said[1] and said[1].endswith("(numeric codes as text, 0 and nan included; a trigger channel "
                                                   "with a nominal rate: each change to a non-zero code)")
    res = CliRunner().invoke(main, ["calibrate", str(tmp_path / f"{name}.xdf"), "--labels", "0=fists,1=feet",
                                    "--name", "s0", "--out", str(tmp_path), "--channels", ",".join(FAST_CHANNELS),
                                    "--no-recurrent", "--no-average", "--no-combined", "--no-progress"])
    assert res.exit_code == 0, res.output
    n = Counter(e.description for e in src.events)
    assert f"cues per class {{'fists': {n['T1']}, 'feet': " in res.output  # every cue coded 0 (the last T2 is cut)


def test_every_channel_of_a_string_marker_stream_is_recorded(tmp_path):
    """A 2-channel string marker stream: the first channel, then the second's non-empty value, at the same sample, in
    the file; read back (calibrate, evaluate) as a decoder follows the stream, its first channel only (audit
    s62interop F2: the second channel's values were cues no decoder receives)."""
    import pyxdf

    name, n = unique("two"), 1000
    eeg = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src"))
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 2, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-markers-src"))
    marked = {100: ["cue", "left"], 400: ["cue", ""], 700: ["cue", "right"]}
    got, said = record_pushed(tmp_path, name, eeg, cues, test_signal(n, seed=8).astype(np.float32), SFREQ, marked)
    streams, _ = pyxdf.load_xdf(str(tmp_path / f"{name}.xdf"))
    mk = next(s for s in streams if s["info"]["type"] == ["Markers"])
    assert [v[0] for v in mk["time_series"]] == ["cue", "left", "cue", "cue", "right"]
    assert [(e.onset, e.description) for e in got.events] == [(100, "cue"), (400, "cue"), (700, "cue")]
    assert said[1] == ("markers: 'cue' x3, 'left' x1, 'right' x1 (2 string channels: the first, then each other's "
                       "non-empty value as a marker)")


def sigterm_caught(pid: int) -> bool:
    """The process catches SIGTERM (``record`` installs its handler for SIGINT and SIGTERM together, before it looks
    for the stream): /proc's SigCgt mask."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(mask >> (signal.SIGTERM - 1) & 1)


def test_ctrl_c_while_looking_for_the_stream_exits_1_as_the_help_says_nothing_written(tmp_path):
    out = tmp_path / "s.xdf"
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", unique("absent"),
                             "--out", str(out), "--timeout", "120"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_for(lambda: proc.poll() is not None or sigterm_caught(proc.pid), 30.0, "record's signal handlers")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20.0)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "stopped while looking for stream" in stderr and "Traceback" not in stderr
    assert stdout == "" and not out.exists()
    help_text = CliRunner().invoke(main, ["record", "--help"]).output
    assert "Exit code 1 when no file is left" in help_text and "before it was found" in help_text


def test_ctrl_c_before_the_first_sample_removes_the_file_and_exits_1(tmp_path):
    """The stream is found but sends nothing: no file is left, so the exit code says so (was 0)."""
    name, out = unique("mute"), tmp_path / "m.xdf"
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src"))
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().startswith(f"recording '{name}'")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20.0)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert f"warning: no sample of '{name}' was received: nothing recorded ({out} removed)" in stderr
    assert not out.exists()
    del outlet


def record_stamped(path, name: str, x: np.ndarray, mend, until: int | None = None, marker_stream: str | None = None,
                   stall_s: float = 0.0) -> tuple[RecordOnly, object, np.ndarray]:
    """Record ``name`` into ``path`` while ``x`` is pushed in 50-sample chunks stamped on the nominal schedule (from
    when the recorder's inlet is there) as ``mend(stamps)`` changes them in place, stopped ``stall_s`` after ``until``
    (default: all) samples were taken: the recorder, its totals, the schedule."""
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src"), 10)
    rec, stop, got = RecordOnly(path, name, marker_stream=marker_stream), threading.Event(), {}
    rec.open()
    thread = record_in_thread(rec, stop, got)
    try:
        wait_for(outlet.have_consumers, 10.0, "the recorder's inlet")
        ts = pylsl.local_clock() + np.arange(len(x)) / SFREQ
        sent = ts.copy()
        mend(sent)
        for i in range(0, len(x), 50):
            outlet.push_chunk(x[i:i + 50], sent[i:i + 50].tolist())
        wait_for(lambda: rec.counters.samples_in >= (len(x) if until is None else until), 60.0, "every sample")
        time.sleep(stall_s)
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    return rec, totals, ts


def written_stamps(path, name: str) -> np.ndarray:
    """The stamps of stream ``name`` in the XDF file ``path``, as written."""
    import pyxdf

    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path), dejitter_timestamps=False)[0]}
    return streams[name]["time_stamps"]


def test_nonfinite_stamps_are_written_one_period_after_the_one_before_and_noted(tmp_path):
    """A sender stamping samples inf or NaN (before: inf crashed the gap tracker, a NaN went into the file)."""
    name, n = unique("nanstamp"), 1000

    def mend(sent: np.ndarray) -> None:
        sent[[100, 101, 600]] = [np.inf, np.nan, -np.inf]

    rec, totals, ts = record_stamped(tmp_path / "s.xdf", name, test_signal(n, seed=5), mend)
    assert (totals.samples, totals.lost, totals.gaps, totals.backward_steps) == (n, 0, 0, 0)
    assert rec.counters.nonfinite_timestamps == 3
    np.testing.assert_allclose(written_stamps(tmp_path / "s.xdf", name), ts, rtol=0, atol=1e-9)  # where it stands
    lines = summary(rec, totals)
    assert (f"note: stream {name!r} stamps samples NaN or inf: each is written one period after the stamp before it "
            "(events 'nonfinite_timestamps' in the file)") in lines


def test_stamps_liblsl_deduced_from_zero_are_written_back_from_the_next_stamp_and_noted(tmp_path):
    """A recording whose connection began inside a chunk the sender pushed: liblsl stamps the rest of that chunk
    1/sfreq, 2/sfreq, ... (here the sender sends that pattern itself, 7 samples at the start): written stamped back
    from the next stamped sample at the nominal rate, counted, noted (before: ~4e4 s of samples counted lost)."""
    name, n, m = unique("zerostamp"), 1000, 7

    def mend(sent: np.ndarray) -> None:
        sent[:m] = liblsl_deduced(m, SFREQ)  # liblsl's deduction at a connection's start

    rec, totals, ts = record_stamped(tmp_path / "z.xdf", name, test_signal(n, seed=6), mend)
    assert (totals.samples, totals.lost, totals.gaps, totals.backward_steps) == (n, 0, 0, 0)
    assert rec.counters.deduced_timestamps == m
    np.testing.assert_allclose(written_stamps(tmp_path / "z.xdf", name), ts, rtol=0, atol=1e-9)
    lines = summary(rec, totals)
    assert any(f"note: stream {name!r}: {m} sample(s) came stamped from 0 by liblsl" in line for line in lines), lines


def test_a_run_of_deduced_stamps_the_recording_ends_with_is_written_on_from_the_stamp_before(tmp_path):
    """The last samples came stamped from 0 by liblsl (a connection begun inside the last chunk; the sender sends the
    pattern itself) and no stamped sample follows them before the stop: written, stamped on from the stamp before at
    the nominal rate (before: held by the puller and left out of the file, in no counter)."""
    name, n, m = unique("zeroend"), 1000, 30

    def mend(sent: np.ndarray) -> None:
        sent[-m:] = liblsl_deduced(m, SFREQ)

    rec, totals, ts = record_stamped(tmp_path / "e.xdf", name, test_signal(n, seed=7), mend, until=n - m, stall_s=3.0)
    assert (totals.samples, totals.lost, totals.gaps, totals.backward_steps) == (n, 0, 0, 0)
    assert rec.counters.deduced_timestamps == m
    np.testing.assert_allclose(written_stamps(tmp_path / "e.xdf", name), ts, rtol=0, atol=1e-9)
    # the recording ended stalled (the sender silent for 3 s): the run written at the stop is no resume (review s58)
    import pyxdf

    events = [v[0] for s in pyxdf.load_xdf(str(tmp_path / "e.xdf"))[0] if s["info"]["name"][0] == f"{name}-events"
              for v in s["time_series"]]
    assert any('"stall"' in e for e in events) and not any('"resume"' in e for e in events), events
    assert totals.stalled_s >= 2.0, totals


def test_a_named_marker_stream_never_found_is_said_so_not_to_be_named(tmp_path):
    """Audit s58readme F4: ``--marker-stream NAME`` that never appeared got "name it with --marker-stream" and the
    resolver's predicate. Now: the one named was not found while recording."""
    name, missing = unique("nomk"), unique("nomk-cues")
    rec, totals, _ = record_stamped(tmp_path / "m.xdf", name, test_signal(200, seed=8), lambda sent: None,
                                    marker_stream=missing)
    assert totals.markers == 0
    assert (f"warning: no marker was recorded: calibrate needs the cues (no marker stream of --marker-stream (name "
            f"'{missing}') was found while recording: is the stimulus program sending it?)") in summary(rec, totals)


def test_an_out_in_a_folder_that_cannot_be_written_is_refused_before_any_stream_is_looked_for(tmp_path):
    """Found by an audit of non-root deployments: ``--out`` in a folder the user cannot write was found only once the
    stream had been found, as a traceback. Now a usage error naming --out and the cause, at once (``/proc``: a folder
    no one, root included, can create a file in)."""
    res = CliRunner().invoke(main, ["record", "--stream", unique("nowhere"), "--out", "/proc/s01/run1.xdf",
                                    "--timeout", "60"])
    assert res.exit_code == 2, res.output
    assert "--out /proc/s01/run1.xdf: its folder /proc/s01: cannot write in /proc" in res.output, res.output
    assert "no LSL stream matched" not in res.output


def test_its_output_closed_the_recording_goes_on_to_its_end(tmp_path):
    """``bci-stream record ... | head -1``: the pipe closed, the progress line 5 s later raised BrokenPipeError and the
    recording ended there, exit 1, nothing said (audit s69record F6); now it records to its --duration, exit 0."""
    name, out = unique("pipe"), tmp_path / "p.xdf"
    outlet, pusher = paced_source(name, 60.0, seed=6)
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out),
                             "--duration", "8"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().startswith("recording ")
        proc.stdout.close()  # as head -1 does once it has its line
        proc.wait(timeout=60.0)
        stderr = proc.stderr.read()
    finally:
        pusher.halt.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert load_recording(out).n_times >= 7 * 500  # 8 s at 500 Hz (the last chunk's timing aside)
