"""What ``SupervisorCollector`` and the API views read of a supervisor: its decoders (``list()``), for tests that
build real ``DecoderHandle`` objects without starting workers."""

from __future__ import annotations

from bci_stream.service.backends.handle import DecoderHandle


class Listing:
    """Lists the given handles (without the supervisor's lock: a test that holds it gets one consistent view)."""

    def __init__(self, *handles: DecoderHandle) -> None:
        self.handles = list(handles)

    def list(self) -> list[DecoderHandle]:
        return list(self.handles)
