"""mne-lsl interop (issue 15, items 1 and 3), with real mne-lsl, real pylsl and a real decoder worker on loopback.

One real EDF (EEGMMIDB S001R06, imagined fists vs feet, 64 channels, 160 Hz; its first ``PLAY_S`` seconds, to
keep the suite short) is streamed twice at once, in real time, in chunks of 10 samples:

* **µV**: by bci-stream's replay (a pylsl outlet, float32 microvolts, unit ``microvolts``);
* **volts**: by mne-lsl's ``PlayerLSL`` (double64 volts, unit written as MNE's ``unit_mul`` ``"0"``, and its
  annotations on ``<name>-annotations``).

Each is decoded by the bundled ``eegmmidb-s001`` model (calibrate's pick for S001, channels picked by label) in
its own worker. The decoded streams are read by pylsl inlets, and the volts one also by mne-lsl's
``StreamLSL``. Both sources must decode to the same outputs (per sample) and the same trial accuracy at
0.5/1/2/3 s after the cue (within 0.05); ``StreamLSL`` must read the labels, types, units and exactly the data
a pylsl inlet reads. R06 is one of the model's calibration runs: the accuracies compare µV vs volts vs
consumer, they are not a held-out score. Run with ``-s`` to see the table.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
import pytest
from mne_lsl.lsl import local_clock as mne_lsl_clock
from mne_lsl.player import PlayerLSL

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.service.supervisor import Supervisor
from support.common import REPO, SHARED_DATA, TEST_DATA, require_full_data, unique
from support.lsl import wait_for

# PlayerLSL warns when the file length is a multiple of chunk_size (20,000 / 10): its last call finds an
# empty chunk. Nothing is lost (the tests count every sample).
pytestmark = pytest.mark.filterwarnings("ignore:.*End of file reached with an empty chunk:RuntimeWarning")

MODEL = "eegmmidb-s001"
TIMES = (0.5, 1.0, 2.0, 3.0)
CHUNK = 10
TIMEOUT = 120.0
# seconds of the file played (real time, both ways at once): 17 s = 5 cues (T0 T2 T0 T1 T0), 2 of them trials, one of
# each class (T2 at 4.2 s, T1 at 12.5 s: each with its 4.1 s of task, and so every scored time up to 3 s, inside the
# played part); the env variable BCI_STREAM_TEST_PLAY_S=0 plays the whole file (125 s, 15 trials)
PLAY_S = float(os.environ.get("BCI_STREAM_TEST_PLAY_S", "17"))


def _edf() -> Path:
    local = TEST_DATA / "eegmmidb" / "S001" / "S001R06.edf"
    return local if local.exists() else require_full_data(SHARED_DATA / "eegmmidb" / "S001" / "S001R06.edf")


class _HeldPlayer(PlayerLSL):
    """``PlayerLSL`` whose first push waits for ``release`` and for a consumer on its data and annotation
    outlets, so the decoder gets sample 0 (a plain player streams from ``start()``: a decoder that joins a
    second later decodes from there, which is fine live but would not compare sample by sample)."""

    def __init__(self, *args: Any, release: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release, self.held, self.hold_error = release, True, None

    def _stream(self) -> None:
        if self.held:
            self.held = False
            if not self.release.wait(TIMEOUT):
                self.hold_error = "the test never released the player"
                return
            for outlet in (self._outlet, self._outlet_annotations):
                if outlet is not None and not outlet.wait_for_consumers(TIMEOUT):
                    self.hold_error = "no consumer connected to the player's outlets"
                    return
            self._target_timestamp = mne_lsl_clock()  # pace from now
        super()._stream()


def _inlet(name: str, max_buflen: int = 300) -> pylsl.StreamInlet:
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 30.0)
    assert found, f"stream {name} not found"
    inlet = pylsl.StreamInlet(found[0], max_buflen=max_buflen, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    return inlet


def _score(y: np.ndarray, labels: np.ndarray, outputs: list[str], classes: list[str], sfreq: float) -> dict:
    from bci_stream.train.evaluate.metrics import evaluate_probs

    if len(y) < len(labels):  # samples never received hold the last output (what a consumer sees)
        y = np.concatenate([y, np.repeat(y[-1:], len(labels) - len(y), axis=0)])
    m = evaluate_probs([y], [labels], outputs, classes, sfreq, TIMES)
    return {f"{t:g}s": m["trial_accuracy"][f"{t:g}s"]["instant"] for t in TIMES} | {"n_trials": m["n_trials"]}


@pytest.fixture(scope="module")
def interop() -> dict[str, Any]:
    """Stream the EDF both ways at once, decode both, read everything; the tests below check the results."""
    from mne_lsl.stream import StreamLSL

    from bci_stream.io import load_recording, pick_channels
    from bci_stream.sim.replay import run_replay

    edf = _edf()
    entry = ModelRegistry(REPO / "models").get(MODEL)
    card = entry.card
    outputs = list(card.output.labels)
    import mne

    from bci_stream.io import Recording

    full = load_recording(edf, label_map=card.training["label_map"])
    n = full.n_times if PLAY_S <= 0 else min(full.n_times, int(round(PLAY_S * full.sfreq)))
    rec = Recording(full.data[:, :n], full.sfreq, full.ch_names, full.labels[:n], full.label_names,
                    [e for e in full.events if e.onset < n], full.source)
    raw = mne.io.read_raw_edf(edf, preload=True, verbose="error").crop(tmax=(n - 1) / full.sfreq)  # the same n
    assert raw.n_times == n and len(raw.annotations) == len(rec.events)
    x_model, _ = pick_channels(rec.data, rec.ch_names, list(card.ch_names), source=str(edf))
    lut = np.array([outputs.index(n) for n in rec.label_names] + [-1], dtype=np.int64)
    labels = lut[rec.labels]

    sup = Supervisor(str(REPO / "models"), status_interval=0.1)
    name_uv, name_v = unique("mnelsl-uv"), unique("mnelsl-volts")
    release, stop = threading.Event(), threading.Event()
    handles, player, sl, replay_result = [], None, None, {}
    opts = {"resolve_timeout": TIMEOUT, "max_buffer_s": 300}

    def replay() -> None:
        try:
            replay_result["pushed"] = run_replay(edf, name_uv, chunk_size=CHUNK, speed=1.0, source_id=f"{name_uv}-src",
                                                 stop_event=stop, recording=rec, wait_for_consumer=TIMEOUT,
                                                 on_ready=lambda _rec: release.wait(TIMEOUT))
        except BaseException as exc:  # reported by the test
            replay_result["error"] = exc

    try:
        for name in (name_uv, name_v):  # decoders first: each waits for its stream
            spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": MODEL, "options": opts})
            handles.append(sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq))
        thread = threading.Thread(target=replay, name="replay-uv", daemon=True)
        thread.start()
        player = _HeldPlayer(raw, chunk_size=CHUNK, n_repeat=1, name=name_v, source_id=f"{name_v}-src",
                             annotations=True, release=release).start()
        for h, name in zip(handles, (name_uv, name_v)):
            wait_for(lambda h=h: h.status.state in ("running", "error"), TIMEOUT, f"the decoder of {name}")
            assert h.status.state == "running", h.status.error
        out_uv, out_v = _inlet(f"{name_uv}-decoded"), _inlet(f"{name_v}-decoded")
        annotations = _inlet(f"{name_v}-annotations")
        ann_names = []
        full = annotations.info(timeout=10.0)  # kept: an XMLElement does not hold its StreamInfo alive
        ch = full.desc().child("channels").child("channel")
        while not ch.empty():
            ann_names.append(ch.child_value("label"))
            ch = ch.next_sibling("channel")
        sl = StreamLSL(bufsize=n / card.sfreq + 30, name=f"{name_v}-decoded").connect(acquisition_delay=0.05,
                                                                                        timeout=10)
        release.set()

        got: dict[str, list] = {"uv": [], "uv_ts": [], "v": [], "v_ts": [], "ann": [], "ann_ts": []}
        deadline = time.monotonic() + n / card.sfreq + TIMEOUT
        last_data = time.monotonic()
        while time.monotonic() < deadline:
            for key, inlet in (("uv", out_uv), ("v", out_v), ("ann", annotations)):
                y, ts = inlet.pull_chunk(timeout=0.05, max_samples=4096, as_numpy=True)
                if len(ts):
                    got[key].append(np.array(y))
                    got[f"{key}_ts"].append(np.array(ts))
                    last_data = time.monotonic()
            n_uv, n_v = (sum(map(len, got[k])) for k in ("uv_ts", "v_ts"))
            if (n_uv >= n and n_v >= n) or (not thread.is_alive() and time.monotonic() - last_data > 5.0):
                break
        time.sleep(1.0)  # anything more would be a duplicate; and StreamLSL's acquisition catches up
        for key, inlet in (("uv", out_uv), ("v", out_v)):
            y, ts = inlet.pull_chunk(timeout=0.5, max_samples=4096, as_numpy=True)
            if len(ts):
                got[key].append(np.array(y))
                got[f"{key}_ts"].append(np.array(ts))
        sl_data, sl_ts = sl.get_data()
        result = {
            "n": n, "card": card, "outputs": outputs, "labels": labels, "rec": rec, "ann_names": ann_names,
            "y_uv": np.concatenate(got["uv"]), "ts_uv": np.concatenate(got["uv_ts"]),
            "y_v": np.concatenate(got["v"]), "ts_v": np.concatenate(got["v_ts"]),
            "ann": np.concatenate(got["ann"]) if got["ann"] else np.zeros((0, len(ann_names))),
            "ann_ts": np.concatenate(got["ann_ts"]) if got["ann_ts"] else np.zeros(0),
            "sl_ch_names": list(sl.ch_names), "sl_types": sl.get_channel_types(), "sl_units": sl.get_channel_units(),
            "sl_sinfo_units": sl.sinfo.get_channel_units(), "sl_sinfo_types": sl.sinfo.get_channel_types(),
            "sl_model": sl.sinfo.desc.child("model").child("name").first_child().value(),
            "sl_data": sl_data, "sl_ts": sl_ts,
            "offline": decode_offline(entry, np.ascontiguousarray(x_model.T, dtype=np.float32)),
            "status_uv": handles[0].status, "status_v": handles[1].status, "replay": replay_result,
            "hold_error": player.hold_error,
        }
        return result
    finally:
        release.set()
        stop.set()
        if sl is not None:
            with contextlib.suppress(Exception):
                sl.disconnect()
        if player is not None:
            with contextlib.suppress(RuntimeError):  # it stops by itself at the end of the file
                player.stop()
        sup.shutdown()


def test_the_decoders_see_every_sample_in_the_stated_units(interop):
    r = interop
    assert r["hold_error"] is None and "error" not in r["replay"], (r["hold_error"], r["replay"])
    assert r["replay"]["pushed"] == r["n"]
    assert len(r["y_uv"]) == r["n"]  # the µV path: every sample once
    # PlayerLSL deletes its outlet right after its last push, which can lose the last few samples in liblsl
    # (bci-stream's replay lingers for that reason): allow at most one chunk missing at the very end.
    assert r["n"] - CHUNK <= len(r["y_v"]) <= r["n"]
    assert r["status_uv"].stream["units"] == {"input": "microvolts", "assumed": False, "scale": pytest.approx(1.0)}
    assert r["status_v"].stream["units"] == {"input": "V", "assumed": False, "scale": pytest.approx(1e6)}
    assert r["status_v"].stream["channel_format"] == "double64" and r["status_v"].stream["n_chans"] == 64
    for status, y in ((r["status_uv"], r["y_uv"]), (r["status_v"], r["y_v"])):
        c = status.counters
        assert c.gaps == 0 and c.samples_lost == 0 and c.samples_in == c.samples_out == len(y)


def test_playerlsl_volts_decode_like_the_same_file_in_microvolts(interop):
    r = interop
    k = len(r["y_v"])
    live_vs_offline = float(np.abs(r["y_uv"] - r["offline"]).max())
    volts_vs_uv = float(np.abs(r["y_v"] - r["y_uv"][:k]).max())
    print(f"\nmax |µV live - offline| {live_vs_offline:.2e}; max |volts live - µV live| {volts_vs_uv:.2e} "
          f"over {k} samples")
    assert live_vs_offline <= 1e-4
    assert volts_vs_uv <= 1e-3


def test_playerlsl_annotations_land_on_the_cue_samples(interop):
    """The annotation stream's timestamps, put on the decoded samples' timeline, fall on the file's cue onsets
    (PlayerLSL stamps an annotation one sample period before the sample it belongs to: offset -1 or 0)."""
    r = interop
    events = sorted(r["rec"].events, key=lambda e: e.onset)
    assert len(r["ann_ts"]) == len(events)
    which = [r["ann_names"][int(np.flatnonzero(row)[0])] for row in r["ann"]]
    assert which == [e.description for e in events]
    period = 1.0 / r["card"].sfreq
    pos = (r["ann_ts"] - r["ts_v"][0]) / period  # decoded sample 0 is the file's sample 0 (held player)
    offsets = pos - np.array([e.onset for e in events])
    print(f"\nannotation offset from its cue sample: {offsets.min():+.3f} .. {offsets.max():+.3f} samples")
    assert np.all(np.abs(offsets) <= 1.0 + 1e-3)


def test_streamlsl_reads_the_decoded_stream_labels_units_and_data(interop):
    from mne._fiff.constants import FIFF

    r = interop
    assert r["sl_ch_names"] == r["outputs"] == ["fists", "feet"]
    assert r["sl_types"] == ["misc", "misc"] and r["sl_sinfo_types"] == ["misc", "misc"]
    assert r["sl_sinfo_units"] == ["probability", "probability"]  # the desc, as mne-lsl's StreamInfo reads it
    assert r["sl_units"] == [(FIFF.FIFF_UNIT_NONE, FIFF.FIFF_UNITM_NONE)] * 2  # MNE's unitless misc channel
    assert r["sl_model"] == MODEL
    filled = r["sl_ts"] > 0  # StreamLSL's buffer is longer than the file: the rest is still zeros
    np.testing.assert_array_equal(r["sl_ts"][filled], r["ts_v"])
    np.testing.assert_array_equal(r["sl_data"][:, filled].T, r["y_v"])


def test_accuracy_table_mu_volt_outlet_vs_playerlsl_vs_streamlsl(interop):
    r = interop
    classes = list(r["card"].training.get("trial_classes") or r["outputs"])
    args = (r["labels"], r["outputs"], classes, r["card"].sfreq)
    filled = r["sl_ts"] > 0
    rows = {
        "pylsl µV outlet (bci-stream replay) -> pylsl inlet": (r["y_uv"], _score(r["y_uv"], *args)),
        "PlayerLSL volts -> pylsl inlet": (r["y_v"], _score(r["y_v"], *args)),
        "PlayerLSL volts -> mne-lsl StreamLSL": (r["sl_data"][:, filled].T, _score(r["sl_data"][:, filled].T, *args)),
        "offline decode_offline (reference)": (r["offline"], _score(r["offline"], *args)),
    }
    head = f"| source -> consumer | samples | {' | '.join(f'@{t:g} s' for t in TIMES)} | max abs diff vs µV |"
    lines = [head, "|---|---|" + "---|" * len(TIMES) + "---|"]
    for label, (y, acc) in rows.items():
        diff = float(np.abs(y - r["y_uv"][:len(y)]).max())
        lines.append(f"| {label} | {len(y)} | " + " | ".join(f"{acc[f'{t:g}s']:.2f}" for t in TIMES)
                     + f" | {diff:.1e} |")
    n_trials = rows["offline decode_offline (reference)"][1]["n_trials"]
    print(f"\n{Path(r['rec'].source).name}, model {MODEL} ({n_trials} trials {'/'.join(classes)}; a calibration "
          "run of this model: an interop comparison, not a held-out score)\n" + "\n".join(lines))
    ref = rows["pylsl µV outlet (bci-stream replay) -> pylsl inlet"][1]
    for label, (_, acc) in rows.items():
        for t in TIMES:
            assert abs(acc[f"{t:g}s"] - ref[f"{t:g}s"]) <= 0.05, (label, t, acc, ref)


@pytest.mark.parametrize(("unit", "ch_type", "read_as"), [("0", "eeg", "V"), ("-6", "EEG", "uV"), ("-3", "emg", "mV"),
                                                          ("-9", "eeg", "nV"), ("0", "misc", "0"), ("0", "", "0"),
                                                          ("-2", "eeg", "-2"), ("uV", "misc", "uV")])
def test_mne_lsl_power_of_ten_units_are_voltages_only_on_voltage_channel_types(unit, ch_type, read_as):
    """What PlayerLSL writes (``unit_mul``) is read as a voltage on eeg/eog/emg/... channels; a bare number on
    another type, or a power with no unit name, stays as it is, so the worker's error shows it."""
    from bci_stream.core.errors import StreamMismatchError
    from bci_stream.lsl.info import make_stream_info
    from bci_stream.lsl.units import read_units, unit_scale

    info = make_stream_info("units-probe", "EEG", ["C3", "C4"], 160.0, "units-probe-src", unit=unit, ch_type=ch_type)
    assert read_units(info) == [read_as, read_as]
    if read_as in ("0", "-2"):
        with pytest.raises(StreamMismatchError, match=f"channel 'C3' of stream 'units-probe' has unit '{read_as}'"):
            unit_scale(info, None, ["C3", "C4"], "microvolts", None)
