"""Play :class:`~bci_stream.sim.eeg.SyntheticEEG` into Lab Streaming Layer in real time.

Two outlets are created:

* ``name`` (type ``EEG``): the signal, float32 microvolts, channel labels in
  ``desc/channels``;
* ``f"{name}-markers"`` (type ``Markers``, 1 string channel, irregular rate): one
  marker per cue onset whose value is the class name (e.g. ``"left_hand"``) and
  whose timestamp is exactly that of the cue-onset sample.

Sample ``k`` is stamped ``t_start + k / sfreq`` (``t_start`` read from
``pylsl.local_clock()`` once), and chunks are released on that absolute schedule,
so the stream never drifts relative to the LSL clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Protocol

import numpy as np
import pylsl

from bci_stream.core.lsl_text import played_source_id
from bci_stream.lsl.info import make_stream_info
from bci_stream.sim.quiet_end import LINGER_S, stop_signals_ignored, wait_for_consumers_to_leave
from bci_stream.sim.eeg import SyntheticEEG

__all__ = ["run_simulator"]


class _EventLike(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = ...) -> bool: ...


def run_simulator(
    name: str,
    n_chans: int = 64,
    sfreq: float = 160.0,
    duration: float | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    source_id: str | None = None,
    line_freq: float | None = 50.0,
    stop_event: _EventLike | None = None,
    on_ready: Callable[[], object] | None = None,
    *,
    trial_s: float = 4.0,
    rest_s: tuple[float, float] = (2.0, 3.0),
    classes: Sequence[str] = ("left_hand", "right_hand", "feet"),
    ch_names: Sequence[str] | None = None,
) -> int:
    """Stream synthetic EEG and cue markers over LSL at real-time pace.

    Parameters
    ----------
    name : str
        LSL stream name of the EEG outlet; the marker outlet is ``f"{name}-markers"``.
    n_chans : int
        Number of channels (names from :func:`~bci_stream.sim.montage.ten_ten_names` unless ``ch_names``).
    sfreq : float
        Nominal sampling rate in Hz (see :class:`~bci_stream.sim.eeg.SyntheticEEG`).
    duration : float or None
        Seconds of signal to stream (``round(duration * sfreq)`` samples); ``None``
        streams until ``stop_event`` is set or the process is interrupted.
    seed : int
        Seed for the simulator.
    chunk_size : int or None
        Samples per pushed chunk, ``>= 1``; default ``max(1, round(sfreq / 32))``.
    source_id : str or None
        LSL source id of the EEG outlet; default ``f"bci-stream-sim-{name}"``.
        The marker outlet uses ``f"{source_id}-markers"``.
    line_freq : float or None
        Power-line frequency of the simulated interference (``None``/0 disables).
    stop_event : threading.Event or multiprocessing.Event, optional
        Streaming stops soon (within one chunk period) after it is set.
    on_ready : callable, optional
        Called with no arguments once both outlets exist, before the first push.
    trial_s, rest_s, classes
        Cue schedule, passed to :class:`~bci_stream.sim.eeg.SyntheticEEG`.
    ch_names : sequence of str, optional
        The channel labels to stream (``n_chans`` of them; e.g. a model card's, whatever their spelling), placed on
        the scalp by :func:`~bci_stream.sim.montage.ten_ten_position`; default
        :func:`~bci_stream.sim.montage.ten_ten_names`.

    Returns
    -------
    int
        Number of samples pushed.

    Notes
    -----
    Each chunk is generated ahead of time and pushed when its last sample is due
    (``t_start + n_pushed_after_chunk / sfreq`` on ``pylsl.local_clock()``). If the
    process falls behind, chunks are pushed back to back until the schedule is met
    again. ``KeyboardInterrupt`` ends streaming cleanly and returns the count.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, Real) or not math.isfinite(duration):
            raise ValueError(f"duration must be a finite number of seconds or None, got {duration!r}")
        if duration < 0:
            raise ValueError(f"duration must be >= 0 seconds or None, got {duration:g}")
    if source_id is None:
        source_id = played_source_id(f"bci-stream-sim-{name}")
    elif not isinstance(source_id, str) or not source_id:
        raise ValueError(f"source_id must be a non-empty str or None, got {source_id!r}")
    if stop_event is not None and not (hasattr(stop_event, "is_set") and hasattr(stop_event, "wait")):
        raise ValueError(f"stop_event must be an Event (with is_set/wait) or None, got {stop_event!r}")
    if on_ready is not None and not callable(on_ready):
        raise ValueError(f"on_ready must be callable or None, got {on_ready!r}")

    # validates n_chans, sfreq, seed, line_freq, trial_s, rest_s, classes
    sim = SyntheticEEG(
        n_chans=n_chans,
        sfreq=sfreq,
        seed=seed,
        line_freq=line_freq,
        trial_s=trial_s,
        rest_s=rest_s,
        classes=classes,
        ch_names=ch_names,
    )
    sfreq = sim.sfreq
    if chunk_size is None:
        chunk_size = max(1, round(sfreq / 32))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral):
        raise ValueError(f"chunk_size must be an integer >= 1 or None, got {chunk_size!r}")
    elif chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = int(chunk_size)
    total = None if duration is None else int(round(duration * sfreq))

    info = make_stream_info(name, "EEG", sim.ch_names, sfreq, source_id, unit="microvolts")
    marker_info = pylsl.StreamInfo(
        f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{source_id}-markers"
    )
    outlet = pylsl.StreamOutlet(info, chunk_size)
    marker_outlet = pylsl.StreamOutlet(marker_info)
    n_pushed = 0
    try:
        if on_ready is not None:
            on_ready()
        t_start = pylsl.local_clock()
        while True:
            if stop_event is not None and stop_event.is_set():
                break
            n = chunk_size if total is None else min(chunk_size, total - n_pushed)
            if n <= 0:
                break
            data, _ = sim.generate(n)
            events = sim.pop_events()
            due = t_start + (n_pushed + n - 1) / sfreq  # its last sample's time (was the next one's: audit s70sim F3)
            wait = due - pylsl.local_clock()
            if wait > 0:
                if stop_event is not None:
                    if stop_event.wait(wait):
                        break
                else:
                    time.sleep(wait)
            stamps = t_start + (n_pushed + np.arange(n)) / sfreq
            outlet.push_chunk(data, stamps.tolist())
            for onset, label in events:
                marker_outlet.push_sample([label], t_start + onset / sfreq)
            n_pushed += n
        if total is not None and n_pushed == total:  # its end: destroying an outlet at once can drop what liblsl has
            wait_for_consumers_to_leave((outlet, marker_outlet), LINGER_S, stop_event)  # not sent (s70sim F2)
    except KeyboardInterrupt:
        pass
    finally:
        with stop_signals_ignored():  # a stop signal now would be a traceback in the outlet's __del__ (s67rec F1)
            del outlet, marker_outlet
    return n_pushed
