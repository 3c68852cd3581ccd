"""Which input channels send NaN/inf, and how long ``nan_policy: reject`` has dropped every sample.

The counters say how many values were not finite (``nonfinite_values``) and how many samples were rejected; they
do not say which electrode, nor that decoding has stopped: one channel that stays NaN (an electrode off, an amplifier
marking a saturated input) makes ``reject`` drop every sample while the decoder reports ``running``. This watch keeps
both for the status (``stream.nonfinite``), the log and the recording's events. It is fed only chunks that hold a
non-finite value (and, under ``reject``, the first clean chunk after a run of rejections): nothing on clean data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bci_stream.core.channels import shortlist

log = logging.getLogger("bci_stream.worker")

#: a run of rejected samples this long (seconds of the stream) is said in the log, the status and the recording
REJECTING_WARN_S = 1.0
#: under ``hold`` or ``zero``: a second of the stream in which at least this share of the samples had a value
#: replaced is said (the outputs then barely follow those channels); it ends after a second below :data:`REPLACED_END`
REPLACED_WARN, REPLACED_END = 0.5, 0.1


class NonFiniteWatch:
    """Non-finite values per model channel, and the current run of rejected samples.

    Parameters
    ----------
    sfreq
        The stream's nominal rate (a run's length in seconds).
    on_event
        ``on_event(kind, **fields)``: the recording's events (``rejecting`` when a run reaches
        :data:`REJECTING_WARN_S`, and when it ends).
    name
        Who is speaking in the log (``decoder <id>``).
    """

    def __init__(self, sfreq: float, on_event: Callable[..., None], name: str) -> None:
        self.sfreq, self.on_event, self.name = sfreq if sfreq > 0 else 1.0, on_event, name
        self.by_channel: dict[str, int] = {}
        self.latest: list[str] = []  # the channels non-finite in the latest chunk that held any
        self.last_ts: float | None = None  # the stamp of the latest sample with a non-finite value
        self.rejecting = 0  # samples rejected since the last one kept
        self.rejecting_from: tuple[int, float] | None = None  # seq and stamp of the first of them
        self.warning: str | None = None
        #: this second's samples, those with a value replaced (``hold``/``zero``), the values replaced, and of them
        #: those finite but beyond ±1 V
        self.block = [0, 0, 0, 0]

    def saw(self, bad: np.ndarray, names: Sequence[str], ts: np.ndarray) -> None:
        """A chunk ``bad`` ``[n, n_chans]`` (True: not finite) with at least one, in model channel order."""
        cols = bad.sum(axis=0)
        hit = np.flatnonzero(cols)
        self.latest = [names[i] for i in hit]
        for i, name in zip(hit, self.latest):
            self.by_channel[name] = self.by_channel.get(name, 0) + int(cols[i])
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows):
            self.last_ts = float(ts[rows[-1]])

    def rejected(self, ok: np.ndarray, seq: np.ndarray, ts: np.ndarray) -> None:
        """A chunk under ``reject`` (``ok``: the samples kept): the run of rejections goes on, ends, or starts."""
        kept = np.flatnonzero(ok)
        if len(kept):
            if self.rejecting:
                self.kept_all(int(seq[kept[0]]))
            tail = len(ok) - 1 - int(kept[-1])  # rejected samples after the last kept one: a new run
            first = int(kept[-1]) + 1
        else:
            tail, first = len(ok), 0
        if tail:
            if not self.rejecting:
                self.rejecting_from = (int(seq[first]), float(ts[first]))
            self.rejecting += tail
            if self.warning is None and self.rejecting >= REJECTING_WARN_S * self.sfreq:
                self._warn()

    def _warn(self) -> None:
        assert self.rejecting_from is not None
        channels = shortlist(self.latest, 8)
        self.warning = (f"every sample rejected since seq {self.rejecting_from[0]} (nan_policy 'reject'): channel(s) "
                        f"{channels} not finite (or beyond ±1 V); decoding resumes with their first finite sample "
                        "(nan_policy 'hold' decodes on with their last value; or leave them out of the model)")
        log.warning("%s: %s", self.name, self.warning)
        self.on_event("rejecting", message=self.warning, seq=self.rejecting_from[0], channels=list(self.latest))

    def kept_all(self, seq: int) -> None:
        """Sample ``seq`` kept under ``reject`` (call only while :attr:`rejecting`): the run ends."""
        if self.warning is not None:
            log.info("%s: decoding resumed at seq %d after %d rejected sample(s)", self.name, seq, self.rejecting)
            self.on_event("rejecting", message=None, seq=seq, samples=self.rejecting)
        self.rejecting, self.rejecting_from, self.warning = 0, None, None

    def replaced(self, n: int, n_bad: int, n_values: int, n_beyond: int, policy: str) -> None:
        """A chunk of ``n`` samples decoded under ``policy`` (``hold`` or ``zero``), ``n_bad`` of them with a value
        replaced (``n_values`` values, ``n_beyond`` of them finite but beyond ±1 V): over each second of the stream,
        a share of :data:`REPLACED_WARN` or more is said (log, status, recording event ``replacing``; with the cue of
        a unit mislabel when most of the values replaced were beyond ±1 V, not NaN/inf), and its end after a second
        below :data:`REPLACED_END`."""
        block = self.block
        for k, v in enumerate((n, n_bad, n_values, n_beyond)):
            block[k] += v
        if block[0] < self.sfreq:
            return
        share, self.block = block[1] / block[0], [0, 0, 0, 0]
        if self.warning is None and share >= REPLACED_WARN:
            self.warning = (f"{share:.0%} of the last second's samples had a value {_what(block[3], block[2])}, on "
                            f"channel(s) {shortlist(self.latest, 8)} (nan_policy {policy!r}: decoded with "
                            f"{'their last finite value' if policy == 'hold' else 'zeros'} instead, so the outputs "
                            "barely follow them)")
            if block[3] and 2 * block[3] >= block[2]:
                self.warning += ("; values beyond ±1 V on most samples are most often a unit the stream does not "
                                 "declare (µV sent as V: see stream.units)")
            log.warning("%s: %s", self.name, self.warning)
            self.on_event("replacing", message=self.warning, channels=list(self.latest))
        elif self.warning is not None and share < REPLACED_END:
            log.info("%s: values are replaced in %.0f%% of the last second's samples: the warning ended", self.name,
                     100 * share)
            self.on_event("replacing", message=None)
            self.warning = None

    def describe(self) -> dict[str, Any] | None:
        """The status ``stream.nonfinite`` (None: no non-finite value yet): ``channels`` (values per channel name),
        ``latest`` (the channels of the latest chunk that held any, with ``last_ts`` its stamp), ``rejecting`` (samples
        rejected in a row now), ``rejecting_s`` and ``warning`` (a run of :data:`REJECTING_WARN_S` or more; under
        ``hold``/``zero``, a second with :data:`REPLACED_WARN` of its samples replaced: :meth:`replaced`)."""
        if not self.by_channel:
            return None
        return {"channels": dict(self.by_channel), "latest": list(self.latest), "last_ts": self.last_ts,
                "rejecting": self.rejecting, "rejecting_s": round(self.rejecting / self.sfreq, 3),
                "warning": self.warning}


def _what(n_beyond: int, n_values: int) -> str:
    """What the replaced values were: ``n_beyond`` of ``n_values`` finite but beyond ±1 V, the rest NaN/inf."""
    if n_beyond == 0:
        return "not finite"
    if n_beyond == n_values:
        return "beyond ±1 V of the stream's unit"
    return "not finite or beyond ±1 V of the stream's unit"
