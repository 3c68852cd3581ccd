"""Read back a session recorded by :class:`bci_stream.service.recorder.Recorder` (an XDF file).

Both of its layouts: a decoder's recording (``options.record_path``: streams 1-4, and 5 once a marker stream was
followed) and a recording without a model (``bci-stream record``: streams 1 and 4, and 5; no decoded or provenance
stream). A file cut short by a crash loads up to its last complete chunk. The inputs are converted to microvolts
from the input stream header's units, as :func:`bci_stream.io.load_recording` converts them (the XDF loader's own
rule).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.io.recording import Event, Recording
from bci_stream.io.xdf_chunks import check_begins_as_xdf
from bci_stream.io.extras import require
from bci_stream.io.xdf import _channels, _scales  # the XDF loader's unit conversion, shared rather than copied
from bci_stream.io.xdf_clock import JUMP, forward_jumps, part_edges


@dataclass
class Session:
    """Everything one decoder saw and produced.

    Attributes
    ----------
    inputs
        The input stream as received (all channels), as a :class:`Recording`: voltage channels in microvolts
        (converted from the recorded header's units, as :func:`bci_stream.io.load_recording` does; a channel
        without a unit is taken to be in microvolts), other channels as recorded, with their unit in ``ch_units``.
        Its events: a ``timestamp jump`` (a discontinuity) at the first sample after each forward jump of the input
        timestamps over :func:`~bci_stream.io.xdf_clock.jump_threshold` (0.5 s), as the XDF reader marks them: the
        sample whose ``seq`` a ``gap`` event (with the default ``gap_threshold_s``) names, the samples lost before it
        counted in ``samples_lost``. (Markers: :attr:`markers`.)
    input_timestamps
        ``[n]`` source timestamps of the inputs (the source's clock).
    clock_offsets
        ``[(collection_time, offset)]`` applied online (``local = source + offset``); the collection time is
        on the source's clock (``local - offset``), as LabRecorder writes it and pyxdf reads it.
    outputs
        ``[n, n_outputs]`` decoded values; ``output_labels`` name the columns. None for a recording without a model
        (``bci-stream record``: :attr:`decoded` is False), as are ``output_timestamps``, ``seq`` and
        ``state_epoch``; ``output_labels`` is then empty.
    output_timestamps
        ``[n]`` timestamps of the outputs (this host's clock, as published).
    seq, state_epoch
        Provenance per output: sequence number and state epoch (resets, swaps, gap policy).
    events
        ``[(timestamp, {"event": kind, ...})]`` service events (a recording without a model: the recorder's own,
        :mod:`bci_stream.service.recorder`; their ``seq`` is the index of an input sample).
    model
        Name, version and sha256 of the model, from the decoded stream's header (empty without a model).
    markers
        ``[(timestamp, value)]`` markers of the followed marker stream, with *its* timestamps (its clock);
        :meth:`marker_times` maps them to this host's clock with ``marker_clock_offsets``.
    marker_stream
        Name, type, source_id and hostname of the LSL marker stream (empty when none was followed).
    """

    inputs: Recording
    input_timestamps: np.ndarray
    clock_offsets: list[tuple[float, float]]
    outputs: np.ndarray | None
    output_labels: list[str]
    output_timestamps: np.ndarray | None
    seq: np.ndarray | None
    state_epoch: np.ndarray | None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)
    markers: list[tuple[float, str]] = field(default_factory=list)
    marker_clock_offsets: list[tuple[float, float]] = field(default_factory=list)
    marker_stream: dict[str, str] = field(default_factory=dict)

    @property
    def decoded(self) -> bool:
        """Whether the file holds a decoder's outputs (False: a recording without a model, ``bci-stream record``)."""
        return self.outputs is not None

    def marker_times(self) -> np.ndarray:
        """The markers' timestamps on this host's clock (:func:`on_host_clock` with ``marker_clock_offsets``)."""
        return on_host_clock(np.array([t for t, _ in self.markers], dtype=np.float64), self.marker_clock_offsets)


#: A clock offset recorded this much farther from a stamp than the next one is another clock's (s, and times).
OTHER_CLOCK_S, OTHER_CLOCK_RATIO = 60.0, 100.0


def on_host_clock(ts: np.ndarray, offsets: list[tuple[float, float]]) -> np.ndarray:
    """``ts`` (a source's stamps) on this host's clock: each plus the last clock offset recorded before it on the
    source's clock (the one the decoder applied), or the next one when that is far nearer (a marker before its
    stream's first offset; or a source that came back as an instance on another clock, its stamps and offsets far
    from the last instance's: before, the offsets were searched in file order, and one instance's markers got the
    other's offset, 2.6e8 s off)."""
    if not offsets or not len(ts):
        return ts
    c, v = (np.array(col, dtype=np.float64) for col in zip(*sorted(offsets)))  # both on the source's clock
    i = np.searchsorted(c, ts, side="right") - 1
    before, after = np.clip(i, 0, len(c) - 1), np.clip(i + 1, 0, len(c) - 1)
    far = np.abs(ts - c[before])
    nearer = np.abs(c[after] - ts) * OTHER_CLOCK_RATIO < far
    return ts + v[np.where((i < 0) | ((far > OTHER_CLOCK_S) & nearer), after, before)]


def _labels(stream: dict) -> list[str]:
    try:
        chans = stream["info"]["desc"][0]["channels"][0]["channel"]
        return [c["label"][0] for c in chans]
    except (KeyError, IndexError, TypeError):
        return [f"ch{i}" for i in range(int(stream["info"]["channel_count"][0]))]


def _name(stream: dict) -> str:
    try:
        return str(stream["info"]["name"][0])
    except (KeyError, IndexError, TypeError):
        return ""


def _rows(s: dict, n_chans: int) -> np.ndarray:
    data = np.asarray(s["time_series"])
    return data.reshape(-1, n_chans) if data.size else np.empty((0, n_chans))


def _decoded(s_out: dict | None, s_prov: dict | None) -> dict[str, Any]:
    """The :class:`Session` fields of the decoded and provenance streams (None, empty: a file without them)."""
    if s_out is None or s_prov is None:
        return {"outputs": None, "output_labels": [], "output_timestamps": None, "seq": None, "state_epoch": None,
                "model": {}}
    labels = _labels(s_out)
    prov = _rows(s_prov, 2)
    model: dict[str, str] = {}
    try:
        for key, value in s_out["info"]["desc"][0]["model"][0].items():
            model[key] = value[0]
    except (KeyError, IndexError, TypeError):
        pass
    n_out = min(len(s_out["time_stamps"]), len(prov))
    return {"outputs": _rows(s_out, len(labels)).astype(np.float32)[:n_out], "output_labels": labels,
            "output_timestamps": np.asarray(s_out["time_stamps"], dtype=np.float64)[:n_out],
            "seq": prov[:n_out, 0].astype(np.int64), "state_epoch": prov[:n_out, 1].astype(np.int64), "model": model}


def read_session(path: str | Path) -> Session:
    """Load a recorded session: a decoder's (``options.record_path``) or one recorded without a model (``bci-stream
    record``: its input, events and markers; :attr:`Session.decoded` False, the outputs None).

    Raises
    ------
    ValueError
        If the file is not a bci-stream session (its stream ids are not the recorder's: 1 input, 4 events, 5
        markers, and 2 decoded with 3 provenance or neither), or (:class:`bci_stream.io.errors.DataError`) its
        input stream has no voltage channel, or the file is empty (0 bytes) or no XDF file (the message says which).
    """
    pyxdf = require("pyxdf", "reading a recorded session (XDF)")

    path = Path(path)
    check_begins_as_xdf(path)
    logger = logging.getLogger("pyxdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # a crash-truncated tail is expected; only for this file (it was process-wide)
    try:
        streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False,
                                    handle_clock_resets=False)
    finally:
        logger.setLevel(level)
    by_id = {int(s["info"]["stream_id"]): s for s in streams}
    ids = set(by_id) - {5}
    if ids not in ({1, 2, 3, 4}, {1, 4}):
        found = ", ".join(f"{i} {_name(by_id[i])!r}" for i in sorted(by_id)) or "none"
        raise ValueError(f"path must be a bci-stream session file (streams 1 input, 2 decoded, 3 provenance, "
                         f"4 events, 5 markers; without a model, as bci-stream record writes it: 1, 4 and 5), got "
                         f"streams {found} in {path}; read another XDF file with bci_stream.io.load_recording")
    s_in, s_ev = by_id[1], by_id[4]
    s_out, s_prov = by_id.get(2), by_id.get(3)

    in_names = _labels(s_in)
    x = _rows(s_in, len(in_names))
    info = s_in["info"]
    _names, units, types = _channels(s_in, len(in_names))
    scale, ch_types, ch_units = _scales(units, types, str(info["name"][0]))
    sfreq = float(info["nominal_srate"][0])
    in_stamps = np.asarray(s_in["time_stamps"], dtype=np.float64)
    offsets = [(float(t), float(v)) for t, v in zip(s_in.get("clock_times", []), s_in.get("clock_values", []))]
    here = on_host_clock(in_stamps, offsets)  # a sender back on another clock: its break, on this host's clock
    inputs = Recording(data=x.T.astype(np.float64) * scale[:, None], sfreq=sfreq, ch_names=in_names,
                       source=str(path), ch_types=ch_types, ch_units=ch_units,
                       events=[Event(k, 0, JUMP) for k in part_edges(here, sfreq, forward_jumps(here, sfreq))[1:-1]])
    events = [(float(t), json.loads(v[0])) for t, v in zip(s_ev["time_stamps"], s_ev["time_series"])]
    s_mk = by_id.get(5)
    marker_stream: dict[str, str] = {}
    if s_mk is not None:
        try:
            marker_stream = {k: v[0] if v else "" for k, v in s_mk["info"]["desc"][0]["marker_stream"][0].items()}
        except (KeyError, IndexError, TypeError):
            pass
    return Session(
        inputs=inputs,
        input_timestamps=in_stamps,
        clock_offsets=offsets,
        **_decoded(s_out, s_prov),
        events=events,
        markers=[] if s_mk is None else [(float(t), str(v[0]))
                                         for t, v in zip(s_mk["time_stamps"], s_mk["time_series"])],
        marker_clock_offsets=[] if s_mk is None else [
            (float(t), float(v)) for t, v in zip(s_mk.get("clock_times", []), s_mk.get("clock_values", []))],
        marker_stream=marker_stream,
    )
