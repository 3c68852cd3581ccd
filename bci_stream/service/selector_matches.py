"""Other LSL streams a decoder's selector matches: two amplifiers of one make, or an amplifier and a replay, under one
name. The decoder takes the first found that fits; its status names the others it could decode instead
(``stream.also_matching``: :func:`could_decode`) and a warning is logged, so a lab sees it may be decoding the wrong
one and selects by ``source_id`` or ``hostname``.

Looked for here, in the API process, by one thread of its own, once for each stream instance a decoder reaches
``running`` on and each set of channels it reads there (:func:`match_key`: a reconnection to a new instance, or a hot
swap to a model reading another number of channels, is looked at again; before, a swap kept the judgement of the model
swapped out), never from a worker, whose connect threads a resolve slowed enough, on a loaded machine, to leave
decoders short of running.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import pylsl

from bci_stream.lsl.source import ALL_MATCHES, build_predicate, described, fits_shape
from bci_stream.service.backends.handle import DecoderHandle

#: how long one look listens for matches (liblsl answers on loopback and the LAN within tens of ms), s
WAIT_S = 1.0

log = logging.getLogger("bci_stream.supervisor")


class SelectorMatches:
    """Looks, off the supervisor's monitor thread, for the streams other than the decoded one that a decoder's
    selector matches, and keeps them on its handle (``also_matching``: the uid decoded, the others described)."""

    def __init__(self, wait_s: float = WAIT_S) -> None:
        self.wait_s = wait_s
        self._todo: queue.SimpleQueue[tuple[DecoderHandle, MatchKey] | None] = queue.SimpleQueue()
        self._asked: dict[str, MatchKey] = {}  # decoder id -> the match key last looked at (or queued)
        self._thread: threading.Thread | None = None

    def saw(self, handle: DecoderHandle) -> None:
        """A decoder's latest status: queue a look when it runs on a stream instance, or reads a number of its channels,
        not looked at yet."""
        key = match_key(handle.status.stream)
        if handle.status.state != "running" or key is None or self._asked.get(handle.id) == key:
            return
        self._asked[handle.id] = key
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bci-stream-selector-matches", daemon=True)
            self._thread.start()
        self._todo.put((handle, key))

    def forget(self, decoder_id: str) -> None:
        """A decoder was stopped."""
        self._asked.pop(decoder_id, None)

    def close(self) -> None:
        """End the thread (after the look under way, at most ``wait_s``)."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join(timeout=self.wait_s + 1.0)

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            try:
                self._look(*item)
            except Exception:  # noqa: BLE001 - a failed look leaves the status without the field, never the thread
                log.exception("could not look for other streams decoder %s's selector matches", item[0].id)

    def _look(self, handle: DecoderHandle, key: MatchKey) -> None:
        uid, sfreq, needed = key
        sel = handle.spec.stream
        predicate = build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)
        found = pylsl.resolve_bypred(predicate, ALL_MATCHES, self.wait_s)  # listens the whole wait: every match
        decoded = next((i for i in found if i.uid() == uid), None)
        others = [described(i) for i in found if i.uid() != uid and fits_shape(i, sfreq, needed)]
        handle.also_matching = (key, others)
        if others:
            log.warning("decoder %s: %d streams it could decode match %s: decoding %s; not %s (choose with "
                        "stream.source_id or stream.hostname)", handle.id, len(others) + 1, predicate,
                        described(decoded) if decoded is not None else f"uid {uid}", ", ".join(others))


#: what a look at the other matches judges by: the uid of the instance decoded, its nominal rate and how many of its
#: channels the decoder reads
MatchKey = tuple[str, float, int]


def match_key(stream: dict[str, Any] | None) -> MatchKey | None:
    """What the look for the other matches of the decoder of the stream its status describes (``stream``) depends
    on (None: not connected). Another stream could be decoded instead when it has the same nominal rate, a numeric
    format and at least the channels the decoder reads (those of its ``channel_map``, else all): the rule of the first
    connection's :func:`~bci_stream.lsl.source.may_fit`. A match that cannot (mne-lsl PlayerLSL's annotations stream,
    of its EEG stream's source_id) is no ambiguity."""
    stream = stream or {}
    uid, sfreq, mapped = stream.get("uid"), stream.get("sfreq"), stream.get("channel_map")
    if not uid or sfreq is None:
        return None
    return uid, float(sfreq), len(mapped) if mapped else int(stream.get("n_chans") or 0)


def with_matches(stream: dict[str, Any] | None, also_matching: tuple[MatchKey, list[str]] | None
                 ) -> dict[str, Any] | None:
    """A status's ``stream`` with ``also_matching`` once the instance it describes, read as it is now, was looked at
    (absent before)."""
    if stream is None or also_matching is None or also_matching[0] != match_key(stream):
        return stream
    return {**stream, "also_matching": also_matching[1]}
