"""The simulator streams a model card's own channel names (what ``bci-stream demo --model`` needs), whatever their
spelling: EEGMMIDB's ``C3..``/``Fc5.`` get the rhythms of their 10-10 place, a name with no place gets plausible
background EEG. Over real LSL: the stream's labels are the card's, in its order."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pylsl
from scipy import signal

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import read_ch_names
from bci_stream.sim.eeg import SyntheticEEG
from bci_stream.sim.montage import ten_ten_position, unplaced
from bci_stream.sim.player import run_simulator
from support.common import REPO

SFREQ = 160.0


def _card_names() -> list[str]:
    return list(ModelRegistry(REPO / "models").get("eegmmidb-s001-gru").card.ch_names)


def _mu_power(x: np.ndarray) -> float:
    f, p = signal.welch(x.astype(np.float64), fs=SFREQ, nperseg=int(SFREQ))
    return float(p[(f >= 9) & (f <= 13)].mean())


def test_eegmmidb_names_are_placed_and_odd_names_get_background_eeg() -> None:
    names = _card_names()
    assert names[:2] == ["Fc5.", "Fc3."] and unplaced(names) == []
    assert ten_ten_position("C3..") == ten_ten_position("C3") and ten_ten_position("EEG-Cz") == (0.0, 0.0)
    odd = [*names, "EEG065", "Aux 1"]
    assert unplaced(odd) == ["EEG065", "Aux 1"]
    sim = SyntheticEEG(n_chans=len(odd), sfreq=SFREQ, seed=3, ch_names=odd)
    assert sim.ch_names == odd
    data, _ = sim.generate(int(60 * SFREQ))
    rms = np.sqrt((data.astype(np.float64) ** 2).mean(axis=0))
    assert np.all((rms > 5) & (rms < 40)), dict(zip(odd, rms.round(1)))  # every channel is EEG-sized
    c3, odd_ch = odd.index("C3.."), odd.index("EEG065")
    assert _mu_power(data[:, c3]) > 2 * _mu_power(data[:, odd_ch])  # the mu source sits under C3.., not there


def test_run_simulator_streams_the_given_names() -> None:
    names = _card_names()
    name = f"test-sim-card-{uuid.uuid4().hex[:10]}"
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_simulator, daemon=True,
                              kwargs=dict(name=name, n_chans=len(names), sfreq=SFREQ, duration=10.0,
                                          stop_event=stop, on_ready=ready.set, ch_names=names))
    thread.start()
    try:
        assert ready.wait(10.0)
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
        assert found, "simulated stream not found"
        inlet = pylsl.StreamInlet(found[0])
        info = inlet.info(timeout=5.0)
        assert info.channel_count() == len(names) and read_ch_names(info) == names
        inlet.close_stream()
    finally:
        stop.set()
        thread.join(10.0)
    assert not thread.is_alive()
