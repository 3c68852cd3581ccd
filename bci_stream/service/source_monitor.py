"""Watching a stream's source while it is silent: is it back, back changed, or replaced by another stream?"""

from __future__ import annotations

import pylsl

from bci_stream.core.errors import StreamMismatchError
from bci_stream.lsl.source import NUMERIC_FORMATS

RECONNECT_BACKOFF = (0.25, 4.0)  # first and largest interval between source checks while stalled, s


class SourceMonitor:
    """Looks at what matches the decoder's selector, with a bounded exponential backoff between looks.

    Parameters
    ----------
    source
        The full info of the stream being decoded.
    predicate
        The decoder's stream selector as an LSL XPath predicate.
    """

    def __init__(self, source: pylsl.StreamInfo, predicate: str) -> None:
        self.source = source
        self.predicate = predicate
        self.watch: pylsl.ContinuousResolver | None = None
        self.seen_uids = {source.uid()}
        self._backoff = RECONNECT_BACKOFF[0]
        self._next_check = 0.0

    def same_source(self, info: pylsl.StreamInfo) -> bool:
        src = self.source
        if src.source_id():
            return info.source_id() == src.source_id()
        return (info.name(), info.type(), info.hostname()) == (src.name(), src.type(), src.hostname())

    def start(self) -> None:
        """The stream went silent: start watching."""
        self.watch = pylsl.ContinuousResolver(pred=self.predicate, forget_after=2.0)
        self._backoff = RECONNECT_BACKOFF[0]
        self._next_check = pylsl.local_clock() + self._backoff

    def stop(self) -> str | None:
        """Data again: stop watching; the new outlet instance's uid if the source came back as one."""
        uid = None
        if self.watch is not None:
            uid = self.new_instance([i for i in self.watch.results() if self.same_source(i)])
        self.watch = None
        return uid

    def check(self, now: float) -> tuple[pylsl.StreamInfo | None, str | None]:
        """While silent, at most once per backoff interval: ``(info to reopen or None, new uid or None)``.

        Raises
        ------
        StreamMismatchError
            The same source is back with another channel count, rate or format, or only other streams
            match the selector: decoding them with this state would be wrong.
        """
        if self.watch is None or now < self._next_check:
            return None, None
        self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF[1])
        self._next_check = now + self._backoff
        found = self.watch.results()
        mine = [i for i in found if self.same_source(i)]
        src = self.source
        shape = (src.channel_count(), src.nominal_srate(), src.channel_format())
        for info in mine:
            got = (info.channel_count(), info.nominal_srate(), info.channel_format())
            if got != shape:
                raise StreamMismatchError(
                    f"stream {src.name()!r} (source_id {src.source_id()!r}) came back with n_chans={got[0]}, "
                    f"sfreq={got[1]:g}, format={NUMERIC_FORMATS.get(got[2], got[2])}; it was n_chans={shape[0]}, "
                    f"sfreq={shape[1]:g}, format={NUMERIC_FORMATS[shape[2]]}. Refusing to decode it with the same "
                    "state; start a new decoder"
                )
        if not mine and found:
            other = found[0]
            raise StreamMismatchError(
                f"stream {src.name()!r} (source_id {src.source_id()!r}) is gone and another stream matches the "
                f"selector: {other.name()!r} (source_id {other.source_id()!r}, host {other.hostname()!r}). "
                "Refusing to switch sources silently; start a new decoder for it"
            )
        return (mine[0] if mine else None), self.new_instance(mine)

    def new_instance(self, mine: list[pylsl.StreamInfo]) -> str | None:
        """The uid of a new outlet instance of the source among ``mine`` (a reconnection), else None."""
        new = [i for i in mine if i.uid() not in self.seen_uids]
        self.seen_uids.update(i.uid() for i in new)
        return new[0].uid() if new else None
