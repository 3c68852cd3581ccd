"""The decoded LSL stream: one output sample per input sample, carrying the input's timestamp."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream import __version__
from bci_stream.inference.card import ModelCard
from bci_stream.ingest.lsl_info import make_stream_info

OUTPUT_UNITS = {"categorical": "probability", "gaussian": "", "poisson": "rate"}


def decoded_source_id(input_info: pylsl.StreamInfo, card: ModelCard) -> str:
    """Stable per (input stream, model): a consumer can re-resolve it after a restart."""
    base = input_info.source_id() or f"{input_info.name()}@{input_info.hostname()}"
    return f"{base}/decoded/{card.sha256[:12]}"


class DecodedOutlet:
    """LSL outlet ``<input name>-decoded`` of type ``Decoded``, one channel per model output.

    Its ``desc`` carries the model (name, version, sha256), the input stream and the output labels,
    so any LSL tool can tell what produced the values.
    """

    def __init__(self, input_info: pylsl.StreamInfo, card: ModelCard, max_buffered: int = 360) -> None:
        self.name = f"{input_info.name()}-decoded"
        self.source_id = decoded_source_id(input_info, card)
        info = make_stream_info(
            self.name,
            "Decoded",
            card.output.labels,
            input_info.nominal_srate(),
            self.source_id,
            unit=card.output.unit or OUTPUT_UNITS[card.output.kind],
            ch_type=card.output.kind,
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

    def push(self, y: np.ndarray, timestamps: np.ndarray) -> None:
        """Push ``y[T, K]`` with one timestamp per sample."""
        self.outlet.push_chunk(y, timestamps.tolist())

    def close(self) -> None:
        del self.outlet


class ProvenanceOutlet:
    """LSL outlet ``<input name>-decoded-provenance`` (type ``Provenance``, double64): per decoded sample,
    ``seq`` (the input sample's sequence number since the decoder started) and ``state_epoch`` (how many
    times the state was changed by something other than data: reset, gap policy, model swap, restore).

    It is pushed right after the decoded chunk with the same timestamps, one row per decoded row, so a
    consumer pairs rows by order or by timestamp. A gap in ``seq`` means rejected input samples.
    """

    def __init__(self, decoded: DecodedOutlet, sfreq: float, max_buffered: int = 360) -> None:
        self.name = f"{decoded.name}-provenance"
        self.source_id = f"{decoded.source_id}/provenance"
        info = make_stream_info(self.name, "Provenance", ["seq", "state_epoch"], sfreq, self.source_id,
                                unit="count", ch_type="provenance", channel_format="double64")
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=max_buffered)
        self._buf = np.empty((0, 2))

    def push(self, seq: np.ndarray, state_epoch: int, timestamps: np.ndarray) -> None:
        n = len(seq)
        if len(self._buf) < n:
            self._buf = np.empty((max(n, 2 * len(self._buf)), 2))
        rows = self._buf[:n]
        rows[:, 0] = seq
        rows[:, 1] = state_epoch
        self.outlet.push_chunk(rows, timestamps.tolist())

    def close(self) -> None:
        del self.outlet
