"""The recorder as a record-only stream's marker hub sees it (a part of
:class:`~bci_stream.service.record_only.RecordOnly`): each marker value counted on its way into the file."""

from __future__ import annotations

import collections
from typing import Any

from bci_stream.service.markers import MarkerHub
from bci_stream.service.recorder import Recorder


#: Distinct marker values a recording's status and summary list, the most frequent first (every marker is counted
#: and recorded): a stimulus program stamping a trial number into each marker made a 20,000-marker session's status
#: 600 kB, sent whole at every poll (audit s63fault F5).
MAX_LISTED = 50


def listed(counts: dict[str, int], limit: int = MAX_LISTED) -> tuple[dict[str, int], int]:
    """The ``limit`` most frequent values of ``counts`` (ties: the first seen first) and how many other distinct
    values there are."""
    top = dict(collections.Counter(counts).most_common(limit))
    return top, len(counts) - len(top)


class MarkerCount:
    """The recorder as the marker hub sees it, each marker value counted on its way into the file (the summary lists
    them: the event names ``calibrate --labels`` maps)."""

    def __init__(self, recorder: Recorder, notes: list[str] | None = None) -> None:
        self.recorder = recorder
        self.notes = notes  # the recording's notes: a marker stream chosen among several without the rule is one
        self.counts: collections.Counter[str] = collections.Counter()
        #: empty or blank values: recorded (every value received is), no marker to calibrate or a decoder (a sender's
        #: "trigger off" between cues), so neither counted among the values nor listed (audit s67rec F9)
        self.blank = 0
        self.hub: MarkerHub | None = None

    def marker_stream(self, stream: dict[str, Any], connected_at: float | None = None) -> None:
        """A connection of the marker inlet, with when it opened (the hub's ``connected_at``, set just before)."""
        self.recorder.marker_stream({**stream, "every_channel": 1},  # the file's header: other channels written too
                                    self.hub.connected_at if connected_at is None else connected_at)
        if (also := stream.get("also_matching")) and self.notes is not None and self.hub is not None:
            cure = self.hub.follower.choice.cure if self.hub.follower.choice is not None else "a marker selector"
            note = (f"{len(also) + 1} marker streams match {self.hub.follower.predicate}: recording the first found, "
                    f"source_id {stream.get('source_id')!r}; not {', '.join(also)} (choose with {cure})")
            if note not in self.notes:  # once, not at each reconnection of the marker stream
                self.notes.append(note)

    def marker(self, timestamp: float, value: str) -> None:
        if value.strip():
            self.counts[value] += 1
        else:
            self.blank += 1
        self.recorder.marker(timestamp, value)

    def __getattr__(self, name: str) -> Any:  # marker_clock_offset, event: the recorder's own
        return getattr(self.recorder, name)
