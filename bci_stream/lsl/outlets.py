"""The decoded LSL stream: one output sample per input sample, carrying the input's timestamp."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pylsl

from bci_stream import __version__
from bci_stream.core.card import ModelCard
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.liblsl import ChunkPusher

OUTPUT_UNITS = {"categorical": "probability", "gaussian": "", "poisson": "rate"}
#: ``desc/channels/channel/type`` of every output: an MNE channel type, so mne-lsl's ``StreamLSL`` reads the
#: outputs as ``misc`` channels (no physical unit; a unit string it does not know, e.g. ``probability``,
#: becomes MNE's unitless ``misc`` with multiplier 1). The output kind is in ``desc/model/output_kind``.
OUTPUT_CH_TYPE = "misc"


def decoded_source_id(input_info: pylsl.StreamInfo, card: ModelCard, instance: str | None = None) -> str:
    """Stable per (input stream, model): a consumer can re-resolve it after a restart.

    ``instance`` (``options.output_instance``) is appended, ``.../decoded/<sha>/<instance>``: the supervisor
    sets it to the decoder's id for a decoder of a stream and model that another decoder already publishes, as
    two outlets must never share a source_id (liblsl would move a consumer from one to the other when the
    first one stops); and, once it is published, for a decoder whose id equals another's because their inputs
    share a source_id (:mod:`bci_stream.service.output_ids`).
    """
    base = input_info.source_id() or f"{input_info.name()}@{input_info.hostname()}"
    sid = f"{base}/decoded/{card.sha256[:12]}"
    return sid if instance is None else f"{sid}/{instance}"


def decoded_name(input_info: pylsl.StreamInfo, output_name: str | None = None) -> str:
    """The decoded stream's name: ``output_name`` (``options.output_name``), else ``<input name>-decoded``."""
    return output_name or f"{input_info.name()}-decoded"


class DecodedOutlet:
    """LSL outlet ``<input name>-decoded`` (or ``name``: ``options.output_name``) of type ``Decoded``, one channel
    per model output.

    Its ``desc`` carries ``channels/channel`` (``label`` = output label, ``unit`` from the card or
    :data:`OUTPUT_UNITS`, ``type`` = :data:`OUTPUT_CH_TYPE`), the model (name, version, sha256, output kind),
    the input stream and the producer, so any LSL tool (mne-lsl's ``StreamLSL``, LabRecorder) can tell what
    the values are and what produced them.
    """

    def __init__(self, input_info: pylsl.StreamInfo, card: ModelCard, max_buffered: int = 360,
                 instance: str | None = None, source_id: str | None = None, name: str | None = None) -> None:
        self.name = decoded_name(input_info, name)
        self.source_id = source_id or decoded_source_id(input_info, card, instance)
        info = make_stream_info(
            self.name,
            "Decoded",
            card.output.labels,
            input_info.nominal_srate(),
            self.source_id,
            unit=card.output.unit or OUTPUT_UNITS[card.output.kind],
            ch_type=OUTPUT_CH_TYPE,
        )
        desc = info.desc()
        model = desc.append_child("model")
        for key, value in (("name", card.name), ("version", card.version), ("sha256", card.sha256),
                           ("output_kind", card.output.kind)):
            model.append_child_value(key, value)
        source = desc.append_child("input")
        for key, value in (("name", input_info.name()), ("source_id", input_info.source_id()),
                           ("hostname", input_info.hostname())):
            source.append_child_value(key, value)
        desc.append_child_value("producer", f"bci-stream {__version__}")
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=max_buffered)
        self._push = ChunkPusher(self.outlet)

    def push(self, y: np.ndarray, timestamps: np.ndarray) -> None:
        """Push ``y[T, K]`` with one timestamp per sample."""
        self._push(y, timestamps)

    def close(self) -> None:
        del self.outlet


class ProvenanceOutlet:
    """LSL outlet ``<decoded stream name>-provenance`` (type ``Provenance``, double64): per decoded sample,
    ``seq`` (the input sample's sequence number since the decoder started) and ``state_epoch`` (how many
    times the state was changed by something other than data: reset, gap policy, model swap, restore).

    One row per decoded row, with the same timestamps and in the same order, so a consumer pairs rows
    by order or by timestamp. A gap in ``seq`` means rejected input samples. Rows are sent in batches
    every ``flush_interval`` seconds (default 50 ms) rather than per sample: provenance is for audit,
    and batching keeps its cost off the decoded stream's latency. ``on_flush`` is called after each batch was
    sent (and at a flush with none queued), ``on_close`` after the last at :meth:`close`: the worker notes what was
    delivered in its output ring, so a worker killed with rows still queued leaves the next worker generation what
    to send (:mod:`bci_stream.service.provenance_replay`). That is at least once: the rows of a worker killed soon
    after their push are sent again, as exact copies (same ``seq``, epoch and timestamp); a consumer keeps the first
    row of each ``seq``.
    """

    def __init__(self, decoded: DecodedOutlet, sfreq: float, max_buffered: int = 360,
                 flush_interval: float = 0.05, on_flush: Callable[[], None] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.name = f"{decoded.name}-provenance"
        self.source_id = f"{decoded.source_id}/provenance"
        info = make_stream_info(self.name, "Provenance", ["seq", "state_epoch"], sfreq, self.source_id,
                                unit="count", ch_type="provenance", channel_format="double64")
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=max_buffered)
        self._push = ChunkPusher(self.outlet)
        self.flush_interval = flush_interval
        self._rows = np.empty((1024, 2))
        self._ts = np.empty(1024)
        self._n = 0
        self._next_flush = 0.0
        self.on_flush, self.on_close = on_flush, on_close

    def push(self, seq: np.ndarray, state_epoch: int | np.ndarray, timestamps: np.ndarray) -> None:
        """Queue rows (``state_epoch``: one for all, or one per row); sent when the batch is due (or on
        :meth:`flush`)."""
        n, k = len(seq), self._n
        if k + n > len(self._rows):
            size = max(2 * len(self._rows), k + n)
            self._rows = np.resize(self._rows, (size, 2))
            self._ts = np.resize(self._ts, size)
        self._rows[k:k + n, 0] = seq
        self._rows[k:k + n, 1] = state_epoch
        self._ts[k:k + n] = timestamps
        self._n = k + n
        now = pylsl.local_clock()
        if now >= self._next_flush:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Send every queued row (then ``on_flush``, at every flush: rows sent earlier may be marked delivered)."""
        if self._n:
            self._push(self._rows[:self._n], self._ts[:self._n])
            self._n = 0
        if self.on_flush is not None:
            self.on_flush()
        self._next_flush = (pylsl.local_clock() if now is None else now) + self.flush_interval

    def close(self) -> None:
        self.flush()
        if self.on_close is not None:
            self.on_close()
        del self.outlet
