"""A shared worker's check of a returned outlet instance that fails (its full info never came:
SourceUnavailableError; or it came with other channels: StreamMismatchError) ends the stream; the chunk held for that
check is counted lost, and the log and the recording's ``held_lost`` event say it waited for the instance's check.
Before, the check was forgotten before it raised, so they said it waited for "its clock offset"."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bci_stream.core.errors import SourceUnavailableError, StreamMismatchError
from bci_stream.service.stalls import StallHandling


class Read:
    """A FullInfoRead that is over: ``full`` read, or ``error`` raised."""

    def __init__(self, full=None, error: BaseException | None = None) -> None:
        self.full, self.error = full, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.full


class Slot(StallHandling):
    def __init__(self, read: Read) -> None:
        self.decoder_id, self.events = "t", []
        self.status = SimpleNamespace(counters=SimpleNamespace(samples_lost=0), stall=None, stream={"uid": "old"})
        self.check_pending = (read, "new-uid", object(), (1.0, 2.0, 1.5, 1.2))
        self.held = (np.zeros((5, 2), np.float32), np.arange(5, dtype=np.float64), 2.0, 2.0)

    def event(self, kind: str, **fields) -> None:
        self.events.append((kind, fields))

    def accept_instance(self, full, was) -> None:
        raise StreamMismatchError("other channels")


@pytest.mark.parametrize("read, error", [(Read(error=SourceUnavailableError("no answer")), SourceUnavailableError),
                                         (Read(full=object()), StreamMismatchError)])
def test_a_failed_check_says_its_held_chunk_waited_for_the_check(read, error) -> None:
    slot = Slot(read)
    with pytest.raises(error):
        slot.poll_check()
    slot.drop_held()  # what closing the stream does
    assert slot.status.counters.samples_lost == 5
    assert slot.events == [("held_lost", {"samples": 5, "first_timestamp": 0.0,
                                          "waited_for": "its outlet instance's check"})], slot.events
    assert slot.status.stream["uid"] == "old" and slot.reopen_after_check is None
