"""A worker killed between pushing a provenance batch and marking it sent in the output ring: its next generation
sends that batch again (at-least-once). The repeated rows are exact copies (seq, state_epoch, timestamp), so a
consumer that keeps the first row of each seq has every decoded row's provenance exactly once. Real LSL on
loopback: a provenance outlet per worker generation and one inlet that re-subscribes."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.service.provenance_replay import send_unsent_provenance
from bci_stream.service.ring import OutputRing
from support.common import unique
from support.lsl import new_outlet, open_output, pull_all, wait_for


def test_a_batch_pushed_but_not_marked_is_sent_again_as_exact_copies(models_dir):
    name = unique("fixBrepeat")
    card = ModelRegistry(models_dir).get("tiny-gru").card
    decoded = DecodedOutlet(new_outlet(name, f"{name}-src")[1], card)
    ring = OutputRing.create(mp.get_context("spawn"), 64, card.n_outputs)
    # generation 1: rows 0..2 marked sent; rows 3..5 pushed on LSL, and the worker killed before it marked them
    marking = ProvenanceOutlet(decoded, 100.0, flush_interval=3600.0,
                               on_flush=lambda: ring.note_provenance_sent(ring.head))
    inlet = open_output(f"{name}-decoded-provenance")
    wait_for(marking.outlet.have_consumers, 10, "the provenance inlet")
    seq = np.arange(6, dtype=np.float64)
    ring.write(seq[:3], 1000.0 + seq[:3] / 100, 1, np.zeros((3, card.n_outputs)))
    marking.push(seq[:3], 1, 1000.0 + seq[:3] / 100)  # the first batch is due at once: sent, then marked
    ring.write(seq[3:], 1000.0 + seq[3:] / 100, 1, np.zeros((3, card.n_outputs)))
    marking.push(seq[3:], 1, 1000.0 + seq[3:] / 100)  # queued (the next batch is due in an hour)
    marking.on_flush = None  # the kill lands between this batch's push and its mark
    marking.flush()
    assert ring.provenance_sent == 3 and ring.head == 6
    first, t_first = pull_all(inlet, 6, 20.0)
    del marking  # killed: its outlet goes
    # generation 2 sends what the mark says is unsent: rows 3..5, a second time
    prov2 = ProvenanceOutlet(decoded, 100.0, flush_interval=3600.0,
                             on_flush=lambda: ring.note_provenance_sent(ring.head))
    assert send_unsent_provenance(ring, prov2, pylsl.local_clock() + 15.0, lambda: False) == {
        "provenance_replayed": 3, "provenance_unrecoverable": 0}
    again, t_again = pull_all(inlet, 3, 20.0)
    rows = np.column_stack([np.concatenate([first, again]), np.concatenate([t_first, t_again])])
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 3, 4, 5]  # at least once: the unmarked batch is repeated
    np.testing.assert_array_equal(rows[6:], rows[3:6])  # as exact copies: seq, state_epoch and timestamp
    _, keep = np.unique(rows[:, 0], return_index=True)  # what a consumer does: the first row of each seq
    np.testing.assert_allclose(rows[np.sort(keep), 2], 1000.0 + seq / 100)
    prov2.close()
