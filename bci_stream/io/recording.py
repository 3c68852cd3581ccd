"""The one in-memory type every loader returns: a continuous multichannel recording with labels.

Conventions (held everywhere in bci-stream):

* ``data`` is ``[n_chans, n_times]`` float64 in **microvolts** (the model card's ``unit``) for every voltage
  channel; a channel the file gives in another unit (a temperature, an accelerometer) keeps its values and that
  unit (``ch_units``);
* ``labels`` is ``[n_times]`` int, ``-1`` where no class applies (unlabelled or ignored), otherwise an
  index into ``label_names``;
* ``events`` are ``(onset_sample, duration_samples, description)`` in the recording's own samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

UNIT = "microvolts"
#: The unit of a channel that has none (mne-lsl's convention; every reader in bci-stream takes it as not a voltage).
NO_UNIT = "none"
UNLABELLED = -1


@dataclass(frozen=True)
class Event:
    """One annotated event: onset and duration in samples, and its description (e.g. ``"T1"``)."""

    onset: int
    duration: int
    description: str


@dataclass
class Recording:
    """A continuous recording.

    Attributes
    ----------
    data
        ``[n_chans, n_times]`` float64, microvolts.
    sfreq
        Sampling rate in Hz.
    ch_names
        One name per row of ``data``, as the file gives them.
    labels
        ``[n_times]`` int; ``-1`` = no label, else an index into ``label_names``.
    label_names
        Class names, e.g. ``["rest", "fists", "feet"]``.
    events
        Annotated events (cues, markers) in samples.
    source
        Where it came from (a file path, or a description), for reports and model cards.
    ch_types
        One type per channel as the file declares it (mne's names: ``"eeg"``, ``"eog"``, ``"ecg"``, ``"misc"``,
        ...), or None when the format does not say.
    ch_units
        The unit of each row of ``data``: :data:`UNIT` for a voltage channel (every loader converts those to
        microvolts), else the file's own unit (``"degC"``, ``"g"``; ``"none"`` where the file says the channel has
        none; an empty entry is read as that), values as the file gives them. None: every channel is in microvolts.
    bad_channels
        The channels the file marks bad (mne's ``info['bads']``: FIF files; NPZ files written by bci-stream; mne's
        EEGLAB and BrainVision readers set none), names as in ``ch_names``; empty where the format has no such mark
        (EDF, XDF, BCI2000: :func:`~bci_stream.io.save_xdf` cannot write it). Loaders keep their rows: calibrate
        leaves them out unless ``--channels`` names them, and so does ``bci-stream train`` unless ``data.channels``
        does (:func:`bci_stream.train.dataset.leave_out_bad_channels`); evaluate and replay read them and say so.
    """

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    labels: np.ndarray | None = None
    label_names: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    source: str = ""
    ch_types: list[str] | None = None
    ch_units: list[str] | None = None
    bad_channels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float64)
        if self.data.ndim != 2:
            raise ValueError(f"data must be 2-D [n_chans, n_times], got shape {self.data.shape}")
        if len(self.ch_names) != self.data.shape[0]:
            raise ValueError(
                f"ch_names must have one name per channel (n_chans={self.data.shape[0]}), got {len(self.ch_names)}"
            )
        if self.ch_types is not None and len(self.ch_types) != self.data.shape[0]:
            raise ValueError(f"ch_types must have one type per channel (n_chans={self.data.shape[0]}), "
                             f"got {len(self.ch_types)}")
        if self.ch_units is not None:
            self.ch_units = [str(u).strip() or NO_UNIT for u in self.ch_units]
            if len(self.ch_units) != self.data.shape[0]:
                raise ValueError(f"ch_units must have one unit per channel (n_chans={self.data.shape[0]}), "
                                 f"got {len(self.ch_units)}")
        self.bad_channels = [str(n) for n in self.bad_channels]
        if unknown := [n for n in self.bad_channels if n not in self.ch_names]:
            raise ValueError(f"bad_channels must name channels of ch_names; got {unknown} that are not")
        if not self.sfreq > 0:
            raise ValueError(f"sfreq must be > 0, got {self.sfreq}")
        if self.labels is None:
            self.labels = np.full(self.n_times, UNLABELLED, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.shape != (self.n_times,):
            raise ValueError(f"labels must have shape (n_times={self.n_times},), got {self.labels.shape}")
        if self.labels.size and self.labels.max(initial=UNLABELLED) >= len(self.label_names):
            raise ValueError(
                f"labels must index label_names ({len(self.label_names)} names), got max label {self.labels.max()}"
            )

    @property
    def n_chans(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_times / self.sfreq

    @property
    def name(self) -> str:
        return Path(self.source).stem if self.source else "recording"

    def rows(self, idx: Sequence[int]) -> Recording:
        """The channels ``idx`` (row indices, in that order) of this recording, with their types, units and bad marks;
        labels and events as they are."""
        idx = [int(i) for i in idx]
        names = [self.ch_names[i] for i in idx]
        types = None if self.ch_types is None else [self.ch_types[i] for i in idx]
        units = None if self.ch_units is None else [self.ch_units[i] for i in idx]
        return replace(self, data=self.data[idx], ch_names=names, ch_types=types, ch_units=units,
                       bad_channels=[n for n in names if n in self.bad_channels])

    def units(self) -> list[str]:
        """The unit of every channel (:data:`UNIT` for all when ``ch_units`` is None)."""
        return list(self.ch_units) if self.ch_units is not None else [UNIT] * self.n_chans

    def label_counts(self) -> dict[str, int]:
        """Number of *cues* (labelled segments, not samples) per label name."""
        counts = {name: 0 for name in self.label_names}
        lab = self.labels
        starts = np.flatnonzero((lab != UNLABELLED) & np.r_[True, lab[1:] != lab[:-1]])
        for s in starts:
            counts[self.label_names[lab[s]]] += 1
        return counts
