"""Counters summed over worker generations (bci_stream.service.totals): the last snapshot of each ended generation
plus the running one's latest; state_epoch carried (not summed), max_chunk the largest."""

from __future__ import annotations

from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.totals import GenerationTotals, add_counters


def test_the_last_snapshot_of_each_ended_generation_is_summed_with_the_running_ones():
    t = GenerationTotals()
    t.take(1, Counters(samples_in=10, samples_out=8, samples_rejected=2, max_chunk=4, state_epoch=1))
    t.take(1, Counters(samples_in=100, samples_out=90, samples_rejected=10, swaps=1, max_chunk=4, state_epoch=2))
    assert t.totals().samples_in == 100  # one generation: its latest snapshot, not the sum of its snapshots
    t.take(2, Counters(samples_in=5, samples_out=5, samples_lost=30, gaps=1, max_chunk=9, state_epoch=3))
    t.take(1, Counters(samples_in=999))  # a late snapshot of an ended generation: ignored
    total = t.totals()
    assert (total.samples_in, total.samples_out, total.samples_rejected) == (105, 95, 10)
    assert (total.samples_lost, total.gaps, total.swaps) == (30, 1, 1)  # the restart's gap counted once
    assert total.state_epoch == 3 and total.max_chunk == 9
    t.take(4, Counters(samples_in=1, samples_out=1, state_epoch=5))  # generation 3 never reported (a failed start)
    assert t.totals().samples_in == 106 and t.totals().state_epoch == 5
    t.take(5, Counters())  # a restarted worker's first status (connecting): its epoch 0 until it attaches
    assert t.totals().state_epoch == 5  # never back to 0 (audit s70worker F3)


def test_a_generation_that_has_not_reported_yet_keeps_the_previous_ones_counted():
    h = DecoderHandle(id="d1", spec=None)  # type: ignore[arg-type]  # the spec is not read here
    h.take_status(1, WorkerStatus(counters=Counters(samples_in=50, samples_out=50)))
    h.generation = 2
    h.status = WorkerStatus()  # a new generation's fresh status (its counters from zero)
    assert h.totals().samples_in == 50
    h.take_status(2, WorkerStatus(counters=Counters(samples_in=7, samples_out=7)))
    assert h.totals().samples_in == 57 and h.status.counters.samples_in == 7


def test_add_counters_covers_every_field():
    one = Counters(**{k: 1 for k in Counters.__dataclass_fields__})
    two = add_counters(one, one)
    fields = Counters.__dataclass_fields__
    assert all(getattr(two, k) == (1 if k in ("state_epoch", "max_chunk") else 2) for k in fields)


def test_a_commands_answer_counts_its_own_counters_in_the_totals_too():
    """A swap or reset answers with the worker's counters just after the change, newer than the last snapshot: the
    answer's ``totals`` add them to the ended generations (they were one swap behind ``counters``)."""
    from bci_stream.api.views import decoder_status
    from bci_stream.core.spec import DecoderSpec

    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"})
    h = DecoderHandle(id="d1", spec=spec)
    h.take_status(1, WorkerStatus(counters=Counters(samples_in=40, swaps=1, state_epoch=1)))
    h.take_status(2, WorkerStatus(counters=Counters(samples_in=10, state_epoch=2)))  # after a restart
    answer = dict(vars(Counters(samples_in=12, swaps=1, state_epoch=3)))  # the swap's own figures
    st = decoder_status(h, answer)
    assert st.counters["swaps"] == 1 and st.counters["samples_in"] == 12
    assert st.totals["swaps"] == 2 and st.totals["samples_in"] == 52 and st.totals["state_epoch"] == 3
    plain = decoder_status(h)  # without an answer: the snapshots, as before
    assert plain.totals["swaps"] == 1 and plain.counters["samples_in"] == 10
