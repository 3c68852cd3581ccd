"""Another outlet publishing a decoder's decoded source_id: a second service, on this host or another node of the LSL
network, decoding the same input with the same model (one service gives its own such decoders each a source_id of
their own: :mod:`bci_stream.service.output_ids`; it knows nothing of another service's).

Two outlets with one source_id are one stream to liblsl: a consumer resolving by source_id may take either, and is
moved from one to the other when the first one stops. Before, neither service said so (audit s41, ops F5). Now a
decoder looks for outlets of its decoded source_id other than its own for :data:`LOOK_S` after its outlet opened
(a continuous resolver read at each status tick: nothing waits for it), and a find is said in the status
(``output_stream.same_source_id``: a ``warning`` and the ``others``: host, name, uid), once in the log, and in the
recording's events (``same_source_id``). Of two services started one after the other, the later one's decoder says it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pylsl

from bci_stream.lsl.source import build_predicate

log = logging.getLogger("bci_stream.worker")

#: how long after its outlet opened a decoder looks for other outlets of its decoded source_id, s
LOOK_S = 10.0


class OutletTwins:
    """The look for other outlets of one decoded source_id (see the module docstring).

    Parameters
    ----------
    outlet_info
        The decoder's own decoded outlet's info (its source_id, and its uid, which is not another's).
    decoder_id
        The decoder's id, for the log.
    on_event
        ``on_event(kind, **fields)``: the recording's events.
    now
        ``local_clock()`` when the outlet opened.
    """

    def __init__(self, outlet_info: pylsl.StreamInfo, decoder_id: str, on_event: Callable[..., None],
                 now: float) -> None:
        self.source_id, self.own_uid = outlet_info.source_id(), outlet_info.uid()
        self.decoder_id, self.on_event = decoder_id, on_event
        self.until = now + LOOK_S
        self.others: list[dict[str, str]] = []
        self.warning: str | None = None
        try:
            self.resolver: pylsl.ContinuousResolver | None = pylsl.ContinuousResolver(
                pred=build_predicate(source_id=self.source_id), forget_after=2.0)
        except RuntimeError as exc:  # liblsl cannot create it (out of descriptors): no look, said in the log
            self.resolver = None
            log.warning("decoder %s: cannot look for other outlets of its decoded source_id %r (liblsl: %r)",
                        decoder_id, self.source_id, str(exc))

    def tick(self, now: float) -> None:
        """Read the resolver (no wait); a first other outlet found is said; the look ends after :data:`LOOK_S`."""
        if self.resolver is None:
            return
        found = [i for i in self.resolver.results() if i.uid() != self.own_uid]
        known = {o["uid"] for o in self.others}
        new = [{"hostname": i.hostname(), "name": i.name(), "uid": i.uid()} for i in found if i.uid() not in known]
        if new:
            self.others += new
            hosts = ", ".join(sorted({repr(o["hostname"]) for o in self.others}))
            self.warning = (f"another LSL outlet publishes this decoder's decoded source_id {self.source_id!r} (from "
                            f"host {hosts}): another service decoding the same input with the same model? liblsl "
                            "takes outlets of one source_id for one stream, so a consumer resolving it may read "
                            "either, and is moved from one to the other when the first stops; give one of the "
                            "decoders options.output_instance (e.g. the node's name) for a source_id of its own")
            log.warning("decoder %s: %s", self.decoder_id, self.warning)
            self.on_event("same_source_id", others=new)
        if now >= self.until:
            self.resolver = None  # liblsl's resolver thread and sockets go now

    def describe(self) -> dict[str, Any] | None:
        """``{"warning", "others"}`` once another outlet was found, else None."""
        return None if self.warning is None else {"warning": self.warning, "others": list(self.others)}

    def close(self) -> None:
        self.resolver = None
