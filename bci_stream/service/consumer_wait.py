"""A new decoder's or a restarted worker's wait for the consumers of its decoded stream, before its first output."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pylsl

if TYPE_CHECKING:
    from bci_stream.service.stream_slot import StreamSlot

log = logging.getLogger("bci_stream.worker")


#: Why a worker holds its first output, by whose wait it is (the ``reason`` of :func:`await_consumers`).
OPTION_WAIT = "options.wait_for_consumer_s"
RESTART_WAIT = "a restarted worker's wait for the consumers of its decoded stream to re-subscribe"


def waiting_refusal(name: str, wait_s: float, reason: str) -> str:
    """A worker's refusal of a command (reset, state, swap) while it waits for a consumer of its decoded stream
    ``name``: before, "its stream is not connected yet", when its input was connected and buffering."""
    return (f"the decoder is waiting (at most {wait_s:g} s: {reason}) for a consumer of its decoded stream {name!r} "
            "before its first output; its input stream is connected and buffering. It takes commands once it "
            f"decodes (status state 'running': a consumer subscribed to {name!r}, or the wait ended): retry then")


def await_consumers(slot: StreamSlot, wait_s: float, hold_s: float = 0.0,
                    reason: str = OPTION_WAIT) -> tuple[float, bool]:
    """Before the first output, wait (at most ``wait_s``) for a consumer of the decoded stream: LSL consumers
    miss what is pushed before they subscribe (a restarted worker: they re-subscribe within ~1.5 s, liblsl's
    recovery; a new decoder: ``wait_for_consumer_s``). The input buffers meanwhile, and the status goes on
    being reported (``connecting``, with ``output_stream``): a wait of up to a minute is not a silent worker. A
    shared worker's starter thread leaves commands to its loop. A restarted worker whose last generation's provenance
    stream had consumers waits for them too (they re-subscribe on their own, maybe later than the decoded stream's).
    ``hold_s``: wait that long even once a consumer is back (a restarted worker's: liblsl tells whether a stream
    has consumers, not how many, and each of several re-subscribes in its own time: before, the first one back
    ended the wait and the others missed 0.6-1.7 s of output, counted nowhere). Returns the seconds waited and
    whether a consumer (of each stream waited for) was there when it ended (False: the first outputs went out to no
    LSL consumer). Meanwhile the status's ``output_stream.waiting_for_consumer_s`` is ``wait_s`` (the API's
    ``connected`` is then true) and a command is refused saying so (:func:`waiting_refusal`, ``reason``: whose wait).
    """
    t0 = pylsl.local_clock()
    slot.status.output_stream["waiting_for_consumer_s"] = wait_s
    slot.commands.consumer_wait = waiting_refusal(slot.outlet.name, wait_s, reason)
    try:
        return _await(slot, wait_s, hold_s, t0)
    finally:
        slot.commands.consumer_wait = None
        slot.status.output_stream.pop("waiting_for_consumer_s", None)


def _await(slot: StreamSlot, wait_s: float, hold_s: float, t0: float) -> tuple[float, bool]:
    slot.reporter.report()
    ring, prov = slot.ring, slot.prov_outlet
    # a restart: the provenance stream's consumers re-subscribe too (a consumer of both may come back to one first)
    both = slot.generation > 1 and prov is not None and ring is not None and ring.had_provenance_consumers() is True
    decoded = slot.outlet.outlet
    if both and ring.had_consumers() is False:  # only the provenance stream had consumers
        decoded = prov.outlet
    others = prov.outlet if both and decoded is not prov.outlet else None

    def waiting() -> bool:
        return not decoded.have_consumers() or (others is not None and not others.have_consumers())

    while ((waiting() or pylsl.local_clock() < t0 + hold_s) and pylsl.local_clock() < t0 + wait_s
           and not slot.stopping):
        time.sleep(0.02)
        if not slot.data_seen:  # data held in the inlet: owed outputs (a kill meanwhile counts them lost)
            slot.note_held_data()
        if slot.host is None:
            slot.commands.poll()
        if slot.reporter.timer_due(pylsl.local_clock()):  # markers wait for the first tick
            slot.reporter.report()
    waited, missing = round(pylsl.local_clock() - t0, 3), waiting()
    if missing and not slot.stopping:
        log.warning("decoder %s: no consumer of %s%s after %.1f s; decoding anyway", slot.decoder_id,
                    slot.outlet.name, " (or of its provenance stream)" if both else "", waited)
    return waited, not missing
