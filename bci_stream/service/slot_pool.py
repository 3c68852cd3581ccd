"""The states of a shared worker's streams: one session and one slot table per model, one batched step per model.

Streams of the same model (the same ONNX file, by its sha256, and the same card:
:meth:`~bci_stream.core.card.ModelCard.key`; keyed by the sha256 alone, a copy whose card alone differs got the first
copy's card: its status named the other model, its channels and unit were the other's) share one
:class:`~bci_stream.engine.step_model.StepModel` (one onnxruntime session pair) and one
:class:`~bci_stream.engine.slots.SlotTable`; each stream's :class:`~bci_stream.service.decoding.StreamDecoder`
holds a :class:`~bci_stream.engine.slots.SlotState` view of its own slot. :meth:`SlotPool.step` decodes the
ready streams of each model in one ``step_ready`` call. A stream that leaves (stop, error, hot swap to
another model) frees its slot only; the others keep theirs. The last stream of a model to leave frees its table and its
session (before, the session stayed loaded for the worker's life: a shared decoder swapped to each new calibration
grew by one session per version, ~0.85 MB for a small model, in the leak audit s48).
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

import numpy as np
import pylsl

from bci_stream.core.errors import error_line
from bci_stream.engine.slots import SlotTable
from bci_stream.engine.step_model import StepModel
from bci_stream.engine.stream_state import StreamState
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.worker_load import WorkerLoad

log = logging.getLogger("bci_stream.worker")


class SlotPool:
    """A shared worker's models and slot tables (a :class:`~bci_stream.service.decoding.StateHost`).

    Parameters
    ----------
    capacity
        Slots each new table starts with (it doubles when full).
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.worker_load = WorkerLoad(pylsl.local_clock())  # the worker loop's waits: its streams' load.worker_busy
        self.tables: dict[str, SlotTable] = {}  # model key (file and card) -> its table
        self._models: dict[str, StepModel] = {}
        self._lock = threading.Lock()  # the model cache only: models load in start-up and swap threads
        self._keys = itertools.count()
        #: model keys whose graph cannot decode several streams in one call: their streams are decoded one by one
        self.alone: set[str] = set()

    def load(self, entry: Any) -> StepModel:
        """The model of registry ``entry``: the one already loaded for its file and card, else a new session."""
        key = entry.card.key()
        with self._lock:
            model = self._models.get(key)
        if model is not None:
            return model
        model = StepModel(entry.onnx_path, entry.card)  # outside the lock: loading takes a while
        with self._lock:
            return self._models.setdefault(key, model)

    def acquire(self, model: StepModel) -> tuple[StepModel, StreamState]:
        """A fresh slot in the table of ``model``'s key (created on first use); the table's model and slot state."""
        key = model.key
        table = self.tables.get(key)
        if table is None:
            with self._lock:
                model = self._models.setdefault(key, model)
            table = self.tables[key] = SlotTable(model, capacity=self.capacity)
        slot = table.add(next(self._keys))
        return table.model, table.state(slot)

    def run(self, decoder: StreamDecoder, x: np.ndarray) -> np.ndarray:
        """One stream's chunk alone (a chunk with gaps inside, decoded segment by segment)."""
        slot = decoder.state.slot
        return self.tables[decoder.model.key].step_ready({slot: x})[slot]

    def release(self, decoder: StreamDecoder) -> None:
        """Free the stream's slot (its state keeps a copy of its values); an empty table goes, and its session with it
        (a start or swap that loaded the model and has not taken its slot yet holds the model itself: its
        :meth:`acquire` puts it back)."""
        key = decoder.model.key
        table = self.tables.get(key)
        slot = getattr(decoder.state, "slot", None)
        if table is None or slot is None:
            return
        table.remove(slot)
        if len(table) == 0:
            del self.tables[key]
            self.alone.discard(key)
            with self._lock:
                self._models.pop(key, None)

    def step(self, ready: list[tuple[StreamDecoder, np.ndarray]]) -> list[tuple[np.ndarray, float] | Exception]:
        """Decode every ready ``(decoder, x[T_i, C])``: one ``step_ready`` per model; ``(y_i, t_decode)`` each.

        If a model's batched call raises, its streams are decoded one by one, so only the stream whose
        input caused it gets an error: its exception in place of its result. When each of them then decodes alone,
        the graph cannot take several streams in one call (a state in another layout than ``[L, B, H]``): said once
        (WARNING), and its streams are decoded one by one from then on (before: a failing call every wake-up, no
        word; audit s67eng F3).
        """
        by_table: dict[str, dict[int, np.ndarray]] = {}
        for decoder, x in ready:
            by_table.setdefault(decoder.model.key, {})[decoder.state.slot] = x
        results: dict[tuple[str, int], Any] = {}
        failed: dict[str, str] = {}  # model key -> why its batched call of several streams failed
        for key, pending in by_table.items():
            if key in self.alone:
                continue
            t = pylsl.local_clock()
            try:
                ys = self.tables[key].step_ready(pending)
            except Exception as exc:  # noqa: BLE001 - find the culprit below, each stream on its own
                if len(pending) > 1:
                    failed[key] = error_line(exc)
                continue
            t = pylsl.local_clock() - t
            results.update({(key, slot): (y, t) for slot, y in ys.items()})
        out = []
        for decoder, x in ready:
            key = (decoder.model.key, decoder.state.slot)
            if key not in results:
                t = pylsl.local_clock()
                try:
                    results[key] = (self.run(decoder, x), pylsl.local_clock() - t)
                except Exception as exc:  # noqa: BLE001 - this stream's error, handed to its own handler
                    results[key] = exc
            out.append(results[key])
        for key, why in failed.items():  # every stream decoded alone: the graph cannot batch (audit s67eng F3)
            if not any(isinstance(r, Exception) for (k, _), r in results.items() if k == key):
                self.alone.add(key)
                log.warning("model %s: its graph fails decoding %d streams in one call (%s); this worker decodes "
                            "each of its streams alone from now on (a recurrent state must be [L, B, H]: "
                            "upgrade-model and export now refuse such a graph)", self.tables[key].model.card.ref,
                            len(by_table[key]), why)
        return out

    def describe(self) -> dict[str, Any]:
        """Per model: its slots in use and the table's capacity (the worker's status)."""
        out: dict[str, Any] = {}
        for t in self.tables.values():  # by sha256[:12]; a second card of one file adds its name@version
            label = t.model.card.sha256[:12]
            out[label if label not in out else f"{label} {t.model.card.ref}"] = {
                "model": t.model.card.ref, "slots": len(t), "capacity": t.capacity}
        return out
