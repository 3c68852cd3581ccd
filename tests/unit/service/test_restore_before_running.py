"""A restarted shared (or Ray) worker restores the state snapshot the last generation sent before it reports
``running``: a status saying ``running`` with no ``worker.restored_seq`` yet reached the supervisor once (the Ray node
loss test under load: ``KeyError: 'restored_seq'``), because the restore came after the ``running`` report. The
statuses are kept by a sender that loses none (the real one sends only the latest, which hid the race); a real
:class:`StreamSlot` and a real model."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle

import numpy as np

from bci_stream.core.spec import DecoderSpec
from bci_stream.lsl.units import UnitScale
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.stream_slot import StreamSlot
from bci_stream.service.stream_units import StreamUnits
from support.common import TINY_CH_NAMES, TINY_SFREQ


class EverySender:
    """Every status put, as the supervisor would unpickle it (none replaced by a later one)."""

    def __init__(self) -> None:
        self.sent: list = []

    def put(self, message) -> None:
        self.sent.append(pickle.loads(pickle.dumps(message)))


def attached(models_dir, generation: int, saved: SavedState | None) -> tuple[StreamSlot, EverySender]:
    a, b = mp.Pipe()
    sender = EverySender()
    spec = DecoderSpec.model_validate({"stream": {"name": "fixG-restore"}, "model": "tiny-gru"})
    slot = StreamSlot("d1", generation, spec, str(models_dir), b, sender)
    slot.status.worker = {"kind": "shared", "index": 0, "pid": os.getpid()}  # as the shared worker's add
    slot.load()
    n = len(TINY_CH_NAMES)
    slot.sfreq = TINY_SFREQ
    slot.units = StreamUnits(UnitScale(np.ones(n), ["uV"] * n, False), None, TINY_SFREQ, "fixG-restore")
    slot.attach(saved)
    return slot, sender


def test_running_is_reported_only_with_the_state_restored(models_dir):
    first, _ = attached(models_dir, 1, None)
    for array in first.decoder.state.arrays.values():
        array[...] = 0.25  # a state the new generation's fresh one is not
    saved = SavedState("d1", 1, first.model.card.sha256, 1234, first.decoder.snapshot())
    slot, sender = attached(models_dir, 2, saved)
    running = [status for _, _, status in sender.sent if status.state == "running"]
    assert running and all(status.worker.get("restored_seq") == 1234 for status in running), \
        [(status.state, status.worker) for _, _, status in sender.sent]
    assert slot.decoder.snapshot() == saved.arrays


def test_a_snapshot_of_another_model_is_not_restored(models_dir):
    first, _ = attached(models_dir, 1, None)
    saved = SavedState("d1", 1, "0" * 64, 99, first.decoder.snapshot())  # another model's (its sha256)
    slot, sender = attached(models_dir, 2, saved)
    assert sender.sent[-1][2].state == "running" and "restored_seq" not in slot.status.worker
