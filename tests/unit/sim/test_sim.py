"""Tests for the synthetic EEG generator, montage helpers and the LSL player."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
from scipy import signal

from bci_stream.sim.eeg import SyntheticEEG
from bci_stream.sim.montage import TEN_TEN_64, ten_ten_names, ten_ten_position


# ----------------------------------------------------------------------------- montage
def test_ten_ten_64_is_the_eegmmidb_cap() -> None:
    assert len(TEN_TEN_64) == 64
    assert len(set(TEN_TEN_64)) == 64
    assert TEN_TEN_64[:4] == ("FC5", "FC3", "FC1", "FCz")
    assert TEN_TEN_64[-4:] == ("O1", "Oz", "O2", "Iz")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 13, 16, 32, 63, 64])
def test_ten_ten_names_subset(n: int) -> None:
    names = ten_ten_names(n)
    assert len(names) == n
    assert len(set(names)) == n
    assert set(names) <= set(TEN_TEN_64)
    assert names == [ch for ch in TEN_TEN_64 if ch in names]  # montage order
    if n >= 3:
        assert {"C3", "C4", "Cz"} <= set(names)


def test_ten_ten_names_priority() -> None:
    assert ten_ten_names(1) == ["C3"]
    assert ten_ten_names(2) == ["C3", "C4"]
    assert set(ten_ten_names(7)) == {"C3", "C4", "Cz", "FC3", "FC4", "CP3", "CP4"}
    assert {"O1", "O2", "Oz", "Pz", "Fz"} <= set(ten_ten_names(18))
    assert ten_ten_names(64) == list(TEN_TEN_64)


def test_ten_ten_names_beyond_64() -> None:
    names = ten_ten_names(66)
    assert names[:64] == list(TEN_TEN_64)
    assert names[64:] == ["EEG065", "EEG066"]


@pytest.mark.parametrize("bad", [0, -3, 2.0, "8", True, None])
def test_ten_ten_names_validation(bad: object) -> None:
    with pytest.raises(ValueError, match="n_chans must be"):
        ten_ten_names(bad)  # type: ignore[arg-type]


def test_ten_ten_position() -> None:
    assert ten_ten_position("C3") == (-2.0, 0.0)
    assert ten_ten_position("C4") == (2.0, 0.0)
    assert ten_ten_position("Cz") == (0.0, 0.0)
    assert ten_ten_position("cz") == (0.0, 0.0)
    assert ten_ten_position("Fp1") == (-1.0, 4.0)
    assert ten_ten_position("AF8") == (4.0, 3.0)
    assert ten_ten_position("FC5") == (-3.0, 1.0)
    assert ten_ten_position("Fc5.") == (-3.0, 1.0)  # EEGMMIDB EDF spelling
    # the project's one normaliser (bci_stream.core.channels): clinical and EDF decorations are placed alike
    for name in ("EEG C3-REF", "C3-A2", "EEG-C3", "EEG:C3", "c3-le", "C3.."):
        assert ten_ten_position(name) == (-2.0, 0.0), name
    assert ten_ten_position("FT7") == (-4.0, 1.0)
    assert ten_ten_position("T8") == (4.0, 0.0)
    assert ten_ten_position("T9") == (-5.0, 0.0)
    assert ten_ten_position("T10") == (5.0, 0.0)
    assert ten_ten_position("TP8") == (4.0, -1.0)
    assert ten_ten_position("POz") == (0.0, -3.0)
    assert ten_ten_position("O2") == (1.0, -4.0)
    assert ten_ten_position("Iz") == (0.0, -5.0)
    assert ten_ten_position("EEG065") == ten_ten_position("EEG066") == (0.0, -6.0)
    for ch in TEN_TEN_64:  # every cap channel is parsed, and positions are unique
        assert ten_ten_position(ch) != (0.0, -6.0)
    assert len({ten_ten_position(ch) for ch in TEN_TEN_64}) == 64


# ----------------------------------------------------------------------------- generator
@pytest.mark.parametrize("sfreq", [160.0, 1000.0])
@pytest.mark.parametrize(
    "chunks",
    [
        [1] * 50 + [2000],
        [7, 13, 100, 1, 0, 999, 500, 430],
        [333] * 6 + [52],
    ],
)
def test_chunk_invariance(sfreq: float, chunks: list[int]) -> None:
    total = sum(chunks)
    ref = SyntheticEEG(n_chans=12, sfreq=sfreq, seed=3, trial_s=0.5, rest_s=(0.2, 0.4))
    data_ref, lab_ref = ref.generate(total)
    ev_ref = ref.pop_events()
    assert ev_ref, "schedule with short trials must produce cues"

    sim = SyntheticEEG(n_chans=12, sfreq=sfreq, seed=3, trial_s=0.5, rest_s=(0.2, 0.4))
    parts = [sim.generate(n) for n in chunks]
    events = []
    for i, n in enumerate(chunks):  # interleave pops differently; the union must match
        if i % 3 == 0:
            events += sim.pop_events()
    events += sim.pop_events()
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    assert np.array_equal(data, data_ref)
    assert np.array_equal(labels, lab_ref)
    assert sim.n_generated == total


def test_events_interleaved_with_chunks() -> None:
    ref = SyntheticEEG(n_chans=4, seed=5, trial_s=0.5, rest_s=(0.2, 0.4))
    ref.generate(3000)
    ev_ref = ref.pop_events()

    sim = SyntheticEEG(n_chans=4, seed=5, trial_s=0.5, rest_s=(0.2, 0.4))
    events: list[tuple[int, str]] = []
    done = 0
    for n in [5, 37, 160, 1, 999, 1798]:
        sim.generate(n)
        done += n
        new = sim.pop_events()
        assert all(idx < done for idx, _ in new)
        events += new
    assert events == ev_ref
    assert sim.pop_events() == []


def test_determinism_and_seeds() -> None:
    a, la = SyntheticEEG(n_chans=8, seed=11).generate(800)
    b, lb = SyntheticEEG(n_chans=8, seed=11).generate(800)
    c, lc = SyntheticEEG(n_chans=8, seed=12).generate(800)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.allclose(a, c)


def test_shape_dtype_amplitude() -> None:
    sim = SyntheticEEG()  # defaults: 64 channels at 160 Hz
    data, labels = sim.generate(160 * 20)
    assert data.shape == (3200, 64) and data.dtype == np.float32
    assert labels.shape == (3200,) and labels.dtype == np.int64
    assert sim.ch_names == list(TEN_TEN_64)
    assert sim.label_names == ["rest", "left_hand", "right_hand", "feet"]
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    assert np.all(np.isfinite(data))
    rms = np.sqrt(np.mean(data.astype(np.float64) ** 2, axis=0))
    assert np.all((rms > 5) & (rms < 100)), rms
    # alpha makes occipital channels stronger than frontal ones
    names = sim.ch_names
    assert rms[names.index("Oz")] > rms[names.index("Fpz")]


def test_line_noise_present_only_below_nyquist() -> None:
    sfreq = 250.0
    d50, _ = SyntheticEEG(n_chans=4, sfreq=sfreq, seed=2, line_freq=50.0).generate(2500)
    d0, _ = SyntheticEEG(n_chans=4, sfreq=sfreq, seed=2, line_freq=None).generate(2500)
    f, p50 = signal.welch(d50[:, 0], fs=sfreq, nperseg=500)
    _, p0 = signal.welch(d0[:, 0], fs=sfreq, nperseg=500)
    i = int(np.argmin(np.abs(f - 50.0)))
    assert p50[i] > 10 * p0[i]
    # 60 Hz line at 100 Hz sampling is above Nyquist: silently omitted
    SyntheticEEG(n_chans=2, sfreq=100.0, line_freq=60.0).generate(100)


def test_labels_and_events_agree() -> None:
    sfreq = 160.0
    sim = SyntheticEEG(n_chans=4, sfreq=sfreq, seed=4, trial_s=1.0, rest_s=(0.5, 1.0))
    _, labels = sim.generate(int(60 * sfreq))
    events = sim.pop_events()
    onsets = np.flatnonzero(np.diff(np.r_[0, labels]) > 0)
    assert [idx for idx, _ in events] == onsets.tolist()
    for idx, cls in events:
        assert sim.label_names[labels[idx]] == cls
        assert np.all(labels[idx : idx + int(sfreq)] == labels[idx])
    counts = np.bincount(labels[labels > 0] - 1, minlength=3)
    assert counts.min() > 0.6 * counts.max()  # balanced-ish


def _band_power_by_class(data: np.ndarray, labels: np.ndarray, ch: int, sfreq: float) -> dict[int, float]:
    """Mean 8-13 Hz Welch power per label, skipping the first 0.5 s of each segment."""
    change = np.flatnonzero(np.diff(labels) != 0) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(labels)]
    powers: dict[int, list[float]] = {}
    for a, b in zip(starts, ends):
        a += int(0.5 * sfreq)
        if b - a < sfreq:
            continue
        f, p = signal.welch(data[a:b, ch].astype(np.float64), fs=sfreq, nperseg=int(sfreq))
        powers.setdefault(int(labels[a]), []).append(float(p[(f >= 8) & (f <= 13)].mean()))
    return {k: float(np.mean(v)) for k, v in powers.items()}


def test_erd_is_present_and_lateralised() -> None:
    sfreq = 160.0
    sim = SyntheticEEG(n_chans=16, sfreq=sfreq, seed=7)
    data, labels = sim.generate(int(240 * sfreq))
    names = sim.ch_names
    rest, left, right, feet = 0, 1, 2, 3
    c3 = _band_power_by_class(data, labels, names.index("C3"), sfreq)
    c4 = _band_power_by_class(data, labels, names.index("C4"), sfreq)
    cz = _band_power_by_class(data, labels, names.index("Cz"), sfreq)
    assert c3[rest] / c3[right] > 2.5
    assert c4[rest] / c4[left] > 2.5
    assert cz[rest] / cz[feet] > 2.5
    # the ipsilateral side is not desynchronised
    assert c3[rest] / c3[left] < 1.5
    assert c4[rest] / c4[right] < 1.5


def test_custom_ch_names_and_high_rate() -> None:
    names = ["C3", "C4", "Cz", "Oz", "Misc"]
    sim = SyntheticEEG(n_chans=5, sfreq=2000.0, ch_names=names)
    assert sim.ch_names == names
    data, _ = sim.generate(2000)
    assert data.shape == (2000, 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_chans": 0}, "n_chans must be >= 1, got 0"),
        ({"n_chans": 2.5}, "n_chans must be an integer"),
        ({"sfreq": -1}, "sfreq must be > 0, got -1"),
        ({"sfreq": float("nan")}, "sfreq must be a finite number"),
        ({"sfreq": 40.0}, "sfreq must be >= 60 Hz"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"line_freq": -50.0}, "line_freq must be >= 0"),
        ({"trial_s": 0}, "trial_s must be > 0, got 0"),
        ({"trial_s": 0.001}, "trial_s must last at least one sample"),
        ({"rest_s": (3.0, 2.0)}, r"rest_s must satisfy 0 <= min <= max, got \(3.0, 2.0\)"),
        ({"rest_s": (1.0,)}, "rest_s must be a"),
        ({"rest_s": (-1.0, 2.0)}, "rest_s must satisfy"),
        ({"classes": ()}, "classes must contain at least one class"),
        ({"classes": ("left_hand", "tongue")}, "classes must only contain .* got 'tongue'"),
        ({"classes": ("feet", "feet")}, "classes must be unique"),
        ({"classes": "feet"}, "classes must be a sequence"),
        ({"n_chans": 3, "ch_names": ["C3", "C4"]}, "ch_names must have n_chans=3 entries, got 2"),
        ({"n_chans": 2, "ch_names": ["C3", "C3"]}, "ch_names must be unique"),
        ({"n_chans": 2, "ch_names": ["C3", ""]}, "ch_names must be non-empty strings"),
    ],
)
def test_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticEEG(**kwargs)


def test_generate_validation() -> None:
    sim = SyntheticEEG(n_chans=2)
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        sim.generate(-1)
    with pytest.raises(ValueError, match="n must be an integer"):
        sim.generate(1.5)  # type: ignore[arg-type]
    data, labels = sim.generate(0)
    assert data.shape == (0, 2) and labels.shape == (0,)


# ----------------------------------------------------------------------------- player
def test_run_simulator_validation() -> None:
    from bci_stream.sim.player import run_simulator

    with pytest.raises(ValueError, match="name must be a non-empty str"):
        run_simulator("")
    with pytest.raises(ValueError, match="duration must be >= 0"):
        run_simulator("x", duration=-1.0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        run_simulator("x", duration=0.0, chunk_size=0)
    with pytest.raises(ValueError, match="sfreq must be > 0"):
        run_simulator("x", sfreq=0.0)


def test_run_simulator_over_lsl() -> None:
    pylsl = pytest.importorskip("pylsl")
    from bci_stream.lsl.info import read_ch_names
    from bci_stream.sim.player import run_simulator

    name = f"test-sim-{uuid.uuid4().hex[:12]}"
    sfreq, n_chans = 160.0, 8
    stop = threading.Event()
    ready = threading.Event()
    result: dict[str, int] = {}

    def target() -> None:
        result["n"] = run_simulator(
            name,
            n_chans=n_chans,
            sfreq=sfreq,
            duration=6.0,
            seed=1,
            stop_event=stop,
            on_ready=ready.set,
            trial_s=0.3,
            rest_s=(0.2, 0.3),
        )

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert ready.wait(5.0)
        infos = pylsl.resolve_bypred(f"name='{name}'", 1, 5.0)
        assert infos, "EEG stream not found"
        minfos = pylsl.resolve_bypred(f"name='{name}-markers'", 1, 5.0)
        assert minfos, "marker stream not found"

        inlet = pylsl.StreamInlet(infos[0])
        minlet = pylsl.StreamInlet(minfos[0])
        full = inlet.info(timeout=5.0)
        assert full.channel_count() == n_chans
        assert full.nominal_srate() == pytest.approx(sfreq)
        assert full.type() == "EEG"
        assert full.source_id() == f"bci-stream-sim-{name}"
        assert read_ch_names(full) == ten_ten_names(n_chans)
        minfo = minlet.info(timeout=5.0)
        assert minfo.type() == "Markers"
        assert minfo.channel_count() == 1
        assert minfo.nominal_srate() == pylsl.IRREGULAR_RATE
        assert minfo.source_id() == f"bci-stream-sim-{name}-markers"
        inlet.open_stream(timeout=5.0)
        minlet.open_stream(timeout=5.0)

        samples: list[list[float]] = []
        stamps: list[float] = []
        markers: list[tuple[str, float]] = []
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and (len(samples) < int(sfreq) or not markers):
            chunk, ts = inlet.pull_chunk(timeout=0.1)
            samples += chunk
            stamps += ts
            mchunk, mts = minlet.pull_chunk(timeout=0.0)
            markers += [(m[0], t) for m, t in zip(mchunk, mts)]
        assert len(samples) >= int(sfreq) // 2
        arr = np.asarray(samples)
        assert arr.shape[1] == n_chans and np.all(np.isfinite(arr))
        # explicit timestamps: exactly 1/sfreq apart (no jitter from the push loop)
        assert np.allclose(np.diff(stamps), 1.0 / sfreq, atol=1e-6)
        assert markers, "no cue marker received"
        assert markers[0][0] in {"left_hand", "right_hand", "feet"}
        # a marker's timestamp falls on the sample grid
        k = (markers[0][1] - stamps[0]) * sfreq
        assert k == pytest.approx(round(k), abs=1e-3)
    finally:
        stop.set()
        thread.join(timeout=5.0)
    assert not thread.is_alive()
    assert 0 < result["n"] < int(6.0 * sfreq)


def test_a_simulation_of_a_given_duration_delivers_its_last_chunk() -> None:
    """The outlets were destroyed right after the last push: liblsl had not always sent it (1 run in 11 lost its last
    100 samples, the consumer logging a broken transmission: audit s70sim F2). They now wait for the consumers to
    let go, as replay's do (at most LINGER_S)."""
    pylsl = pytest.importorskip("pylsl")
    from bci_stream.sim.player import run_simulator

    name = f"test-sim-end-{uuid.uuid4().hex[:12]}"
    result: dict[str, int] = {}
    connected = threading.Event()  # the player pushes once the consumer is there (on_ready waits for it)
    thread = threading.Thread(target=lambda: result.update(n=run_simulator(
        name, n_chans=4, sfreq=1000.0, duration=1.0, chunk_size=100, seed=2, on_ready=lambda: connected.wait(30))),
        daemon=True)
    try:
        thread.start()
        infos = pylsl.resolve_bypred(f"name='{name}'", 1, 30.0)
        assert infos, "EEG stream not found"
        inlet = pylsl.StreamInlet(infos[0])
        inlet.open_stream(timeout=5.0)
        connected.set()
        got = 0
        deadline = time.monotonic() + 30.0
        while got < 1000 and time.monotonic() < deadline:
            got += len(inlet.pull_chunk(timeout=0.2)[1])
        inlet.close_stream()  # the consumer lets go: the player ends at once
        thread.join(timeout=10.0)
    finally:
        connected.set()
        thread.join(timeout=10.0)
    assert result.get("n") == 1000
    assert got == 1000
