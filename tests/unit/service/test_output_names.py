"""Which decoder's status notes a decoded stream name another decoder of the service publishes too (outname)."""

from __future__ import annotations

import logging

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.output_ids import clash_to_reopen
from bci_stream.service.output_names import note_shared_name


def handle(decoder_id: str, created: float, out: str = "outname-X-decoded", state: str = "running",
           host: str | None = "labpc") -> DecoderHandle:
    spec = DecoderSpec.model_validate({"stream": {"name": "outname-X"}, "model": "m"})
    h = DecoderHandle(id=decoder_id, spec=spec, created=created)
    h.status = WorkerStatus(state=state, output_stream={"name": out, "source_id": f"X-src/decoded/{decoder_id}"})
    h.placement = None if host is None else {"backend": "local", "hostname": host}
    return h


def test_only_the_later_decoder_is_noted_naming_the_other_and_both_ways_out():
    a, b = handle("aa", 1.0), handle("bb", 2.0)
    assert note_shared_name(a, [a, b]) is None and "note" not in a.status.output_stream
    note = note_shared_name(b, [a, b])
    assert note is not None and "'aa'" in note and "options.output_name" in note
    assert "output_stream.source_id ('X-src/decoded/bb')" in note
    assert b.status.output_stream["name_shared_with"] == ["aa"] and b.status.output_stream["note"] == note


@pytest.mark.parametrize("other", [
    handle("aa", 1.0, out="outname-X-lr"),  # another name
    handle("aa", 1.0, host="node-2"),  # a Ray worker on another host: told apart by hostname
    handle("aa", 1.0, state="starting"),  # no outlet open
    handle("aa", 1.0, state="stopped"),
])
def test_no_note_without_a_shared_name_on_one_host(other):
    b = handle("bb", 2.0)
    assert note_shared_name(b, [other, b]) is None and "note" not in b.status.output_stream


def test_a_host_not_known_yet_counts_as_the_same():
    a, b = handle("aa", 1.0, host=None), handle("bb", 2.0)
    assert note_shared_name(b, [a, b]) is not None


def test_the_status_hook_notes_and_logs_a_pair_once(caplog):
    """clash_to_reopen (called at every status snapshot) notes the shared name; distinct source_ids: nothing reopens;
    the log says it once however many snapshots come."""
    caplog.set_level(logging.WARNING, logger="bci_stream.supervisor")
    a, b = handle("outname-a1", 1.0), handle("outname-b1", 2.0)
    for _ in range(3):
        b.status = WorkerStatus(state="running", output_stream={"name": "outname-X-decoded", "source_id": "s-b"})
        assert clash_to_reopen(b, iter([a, b])) is None
        assert b.status.output_stream["name_shared_with"] == ["outname-a1"]
    assert len([r for r in caplog.records if "outname-b1" in r.getMessage()]) == 1


def test_a_decoder_sharing_its_name_with_several_is_logged_once_not_once_per_other(caplog):
    """Before: the note (naming every other decoder) was logged once per other decoder: 16 identical lines for one
    decoder sharing its name with 16 (found by an exploratory run). Once per set of others; again when it changes."""
    caplog.set_level(logging.WARNING, logger="bci_stream.supervisor")
    others = [handle(f"outname-o{i}", float(i)) for i in range(4)]
    late = handle("outname-late", 10.0)
    for _ in range(2):
        note_shared_name(late, [*others, late])
    assert len([r for r in caplog.records if "decoder outname-late:" in r.getMessage()]) == 1
    note_shared_name(late, [*others[:2], late])  # two of them stopped: the note changed, said once more
    assert len([r for r in caplog.records if "decoder outname-late:" in r.getMessage()]) == 2
