"""The provenance rows a killed worker had not sent yet, sent by its next generation before its first output.

A decoded row goes out on LSL at once; its provenance row is batched (``ProvenanceOutlet``, every 50 ms), so a
worker killed (``kill -9``, a crash the ``finally`` of which never runs) can leave decoded rows whose provenance
was never sent. The output ring (shared memory owned by the supervisor: it outlives the worker) holds the ``seq``,
timestamp and ``state_epoch`` of every published row, and the head up to which their provenance was sent (written
after each batch, :meth:`~bci_stream.service.ring.OutputRing.note_provenance_sent`). The next generation sends the
rows between that mark and the head, with their original timestamps, in order, before any row of its own: after
its consumers re-subscribed (it waits for the provenance stream's, within what is left of the restart's wait, only
if that stream had consumers). A graceful end (stop, an error, a swap) flushes at close and moves the mark to the
head: nothing is sent twice. Rows the ring no longer holds (overwritten: more unsent rows than its capacity,
``outputs_buffer_s``) cannot be sent; they are counted in the status (``output_stream.provenance_unrecoverable``)
and logged, never sent as made-up rows.

At least once, not exactly once: the mark moves :data:`DELIVERY_S` after a batch was pushed (:class:`SentMark`), so
a worker killed within that time leaves the batches pushed meanwhile to be sent again by its next generation: a push
is no delivery (liblsl's own thread sends what was pushed, later; a batch pushed just before a ``kill -9`` of a loaded
host never left: a consumer of the provenance stream alone saw a hole of 20 rows at the kill when the mark moved at
the push). The repeated rows are exact copies (the same ``seq``, ``state_epoch`` and timestamp, read back from the
ring), and a ``seq`` names one decoded sample for the life of the decoder (a restart numbers after every seq its last
generation reserved, :meth:`~bci_stream.service.ring.OutputRing.last_seq`): a consumer keeps the first provenance row
of each ``seq``. Except after a Ray actor lost with its node: its last rows (up to the relay interval) may never reach
the service's ring, so its successor may number from before them (its rows carry a higher ``state_epoch``). That is
what a lab pairing decoded rows with their provenance wants: a copy it can drop, rather than decoded rows without
provenance (marking at or before the push would lose the batch instead). ``provenance_replayed`` counts the rows
sent late, repeats included.

One window is left, and told rather than counted: a worker killed after it reserved a chunk's ``seq`` (before the
push) and before its ring write began leaves rows that may be on LSL (killed after the push) or not (before it),
and that the ring never held: their provenance cannot be sent. The next generation reports that seq range
(:meth:`~bci_stream.service.ring.OutputRing.unwritten_seq`) in ``output_stream.provenance_missing``
(``first_seq``, ``last_seq``, ``at_most``: an upper bound, as rejected samples leave holes in seq), the log and a
``provenance_missing`` event in the recording, and counts ``at_most`` in the counter ``provenance_missing_rows``
(summed over generations in ``totals`` and on ``/metrics``). It does so first, before it waits for any consumer
(:func:`report_missing_provenance`): the range in its status and counters, a snapshot sent, and only then the ring
notes the range reported, so that no later generation reports or counts it again, and a generation killed meanwhile
leaves it to be reported by the next (what is left: a kill between the snapshot's hand-off to the worker's status
sender thread and its write on the pipe). It is not added to ``provenance_unrecoverable``, which counts rows known to
have been published. The window is a few microseconds per chunk.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pylsl

from bci_stream.lsl.outlets import ProvenanceOutlet
from bci_stream.service.ring import OutputRing

log = logging.getLogger("bci_stream.worker")

#: Seconds after a batch's push that its rows are taken as delivered (the ring's mark moves past them): liblsl sends
#: from its own thread, within milliseconds, tens of them on a loaded host.
DELIVERY_S = 0.5


class SentMark:
    """Moves the output ring's provenance mark (:meth:`~bci_stream.service.ring.OutputRing.note_provenance_sent`)
    past the rows pushed :data:`DELIVERY_S` ago or more, at each flush (``ProvenanceOutlet``'s ``on_flush``), and to
    the head at a graceful close (``on_close``: the outlet flushed its last rows and closes)."""

    def __init__(self, ring: OutputRing, delivery_s: float = DELIVERY_S) -> None:
        self.ring, self.delivery_s = ring, delivery_s
        self._pushed: deque[tuple[int, float]] = deque()  # (the head after a push, when), oldest first

    def flushed(self) -> None:
        """A flush: note its head if rows were pushed since the last, and mark those pushed long enough ago."""
        head, now = self.ring.head, pylsl.local_clock()
        if head > (self._pushed[-1][0] if self._pushed else self.ring.provenance_sent):
            self._pushed.append((head, now))
        upto = None
        while self._pushed and now - self._pushed[0][1] >= self.delivery_s:
            upto = self._pushed.popleft()[0]
        if upto is not None and upto > self.ring.provenance_sent:
            self.ring.note_provenance_sent(upto)

    def closed(self) -> None:
        """A graceful close: every row was flushed (a later generation sends none of them again)."""
        self._pushed.clear()
        self.ring.note_provenance_sent(self.ring.head)


def shown(reporter: Any, found: dict[str, Any], send: bool = False) -> None:
    """Put ``found`` (what :func:`send_unsent_provenance` or :func:`report_missing_provenance` returned) in a worker's
    status ``output_stream`` and, those of them that are counters, in its counters (``totals`` keeps them over
    restarts); ``send``: send a snapshot now (``reporter``: the worker's StatusReporter)."""
    reporter.status.output_stream.update(found)
    for key in found.keys() & vars(reporter.status.counters).keys():
        setattr(reporter.status.counters, key, found[key])
    if send:
        reporter.report()


def report_missing_provenance(ring: OutputRing, prov: ProvenanceOutlet, event: Callable[..., None],
                              publish: Callable[[dict[str, Any]], None] = lambda found: None) -> dict[str, Any]:
    """The seq range ``ring``'s last writer reserved but never wrote (see the module docstring): logged, an
    ``event("provenance_missing", ...)``, then ``publish(found)`` (the worker shows it and sends a snapshot:
    :func:`shown`), and only then noted reported in the ring. Returns ``{"provenance_missing": {...},
    "provenance_missing_rows": at_most}``, or ``{}`` when there is none (or it was reported already)."""
    if (unwritten := ring.unwritten_seq()) is None:
        return {}
    first, last = unwritten
    missing = {"provenance_missing": {"first_seq": first, "last_seq": last, "at_most": last - first + 1},
               "provenance_missing_rows": last - first + 1}
    log.warning("%s: the provenance of up to %d decoded rows (seq %d..%d) may be missing: the last worker was killed "
                "after it numbered them, before they were in its output ring", prov.name, last - first + 1, first, last)
    event("provenance_missing", **missing["provenance_missing"])
    publish(missing)
    ring.note_missing_reported(last)
    return missing


def send_unsent_provenance(ring: OutputRing, prov: ProvenanceOutlet, until: float, stopping: Callable[[], bool],
                           event: Callable[..., None] = lambda kind, **fields: None) -> dict[str, Any]:
    """Send the provenance rows ``ring``'s last writer left unsent (see the module docstring).

    Parameters
    ----------
    ring, prov
        The output ring (its last writer's rows) and this generation's provenance outlet (nothing queued yet).
    until
        ``pylsl.local_clock()`` time up to which to wait for the provenance stream's consumers to re-subscribe
        (only if it had some and there is something to send).
    stopping
        True when the decoder is being stopped (the wait ends).
    event
        ``event(kind, **fields)``: a service event for the recording (``provenance_missing``).

    Returns
    -------
    dict
        ``{"provenance_replayed": n, "provenance_unrecoverable": m}`` for the status's ``output_stream`` (both also
        counters), or ``{}`` when nothing was left unsent; and ``provenance_missing`` when a seq range was reserved
        but never written (see the module docstring), with its ``at_most`` as ``provenance_missing_rows`` (a
        counter: :func:`report_missing_provenance`, which a worker calls first, before any wait).
    """
    missing = report_missing_provenance(ring, prov, event)
    rows, lost = ring.unsent_provenance()
    if not len(rows) and not lost:
        return missing
    if len(rows) and ring.had_provenance_consumers() is not False:
        while not prov.outlet.have_consumers() and pylsl.local_clock() < until and not stopping():
            time.sleep(0.02)
    if lost:
        log.warning("%s: the provenance of %d published rows is lost (older than the output ring holds, or pushed on "
                    "LSL by a write the kill cut short before they were in the ring)", prov.name, lost)
    if len(rows):
        prov.push(rows[:, 0], rows[:, 2], rows[:, 1])
        prov.flush()
    ring.note_provenance_sent(ring.head)
    log.info("%s: sent the provenance of %d rows the last worker published but had not marked sent (the last batch "
             "it pushed may come twice: the same seq)", prov.name, len(rows))
    return {"provenance_replayed": len(rows), "provenance_unrecoverable": lost, **missing}
