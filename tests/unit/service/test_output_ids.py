"""Which decoder the supervisor reopens under its own id when two publish one decoded source_id."""

from __future__ import annotations

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.output_ids import clash_to_reopen, reserve, set_apart

SID = "MNE-LSL/decoded/0123456789ab"


def handle(decoder_id: str, name: str, state: str = "running", sid: str = SID, **options) -> DecoderHandle:
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "m", "options": options})
    h = DecoderHandle(id=decoder_id, spec=spec)
    h.status = WorkerStatus(state=state, output_stream={"name": f"{name}-decoded", "source_id": sid})
    return h


def test_the_later_one_is_reopened_and_only_on_a_real_clash():
    a, b = handle("a", "plA"), handle("b", "plB")
    assert clash_to_reopen(b, [a, b]) is b
    assert clash_to_reopen(b, [b]) is None
    assert clash_to_reopen(b, [handle("a", "plA", sid=SID + "/a"), b]) is None
    for gone in ("starting", "error", "stopped"):  # no outlet open: nothing shared
        assert clash_to_reopen(b, [handle("a", "plA", state=gone), b]) is None
    a.stopping = True
    assert clash_to_reopen(b, [a, b]) is None


def test_when_both_report_in_one_pass_only_one_is_reopened():
    """The monitor reads both decoders' statuses in one pass: the first names one of them, the second then
    names none (both were reopened before, and neither kept the documented id)."""
    a, b = handle("a", "plA"), handle("b", "plB")
    chosen: set[str] = set()
    for h in (a, b):
        if (clash := clash_to_reopen(h, [a, b], chosen)) is not None:
            chosen.add(clash.id)
    assert len(chosen) == 1
    assert [h.id for h in set_apart(chosen, {"a": a, "b": b})] in (["a"], ["b"])


def test_a_kept_source_id_stays_and_the_other_moves():
    kept = handle("a", "plA", output_source_id=SID)  # a hot-swapped decoder's restart reopens its first outlet
    b = handle("b", "plB")
    assert clash_to_reopen(kept, [kept, b]) is b
    assert clash_to_reopen(kept, [kept, handle("b", "plB", output_source_id=SID)]) is None


def test_set_apart_gives_the_decoder_its_id_as_output_instance():
    b = handle("b", "plB", output_source_id=SID)
    clashes = {"b", "gone"}
    assert set_apart(clashes, {"b": b}) == [b] and clashes == set()
    assert b.spec.options.output_instance == "b" and b.spec.options.output_source_id is None


def test_reserve_enters_the_handle_so_the_next_start_of_one_stream_and_model_is_a_twin():
    handles: dict[str, DecoderHandle] = {}
    spec = DecoderSpec.model_validate({"stream": {"name": "amp"}, "model": "m@1.0.0"})
    first = reserve(handles, "a", spec, "local")
    second = reserve(handles, "b", spec, "local")  # before a worker of "a" exists
    other = reserve(handles, "c", DecoderSpec.model_validate({"stream": {"name": "other"}, "model": "m"}), "local")
    assert list(handles) == ["a", "b", "c"] and handles["a"] is first
    assert (first.spec.options.output_instance, second.spec.options.output_instance) == (None, "b")
    assert other.spec.options.output_instance is None


def test_a_start_asking_for_another_decoders_source_id_is_refused_and_nothing_moves():
    """``options.output_source_id`` set by a client to the id another decoder publishes (or was started with): refused
    (409), the running decoder untouched. Before, it was accepted and the running decoder reopened under another id,
    its consumers cut off (audit s67readme F4)."""
    import pytest

    from bci_stream.core.errors import DecoderIdInUseError, OutputIdInUseError

    running = handle("a", "plA")
    asked = handle("c", "plC", state="starting", sid="", output_source_id="lab-out")
    handles = {"a": running, "c": asked}
    for sid, owner in ((SID, "a"), ("lab-out", "c")):
        spec = DecoderSpec.model_validate({"stream": {"name": "plB"}, "model": "m",
                                           "options": {"output_source_id": sid}})
        with pytest.raises(OutputIdInUseError) as err:
            reserve(handles, "b", spec, "local")
        assert isinstance(err.value, DecoderIdInUseError) and str(err.value) == (
            f"options.output_source_id {sid!r} is the decoded source_id of decoder {owner}: two outlets never share a "
            "source_id (liblsl would move a consumer from one to the other); give another, or none")
        assert "b" not in handles and running.spec.options.output_instance is None
    asked.stopping = True  # a decoder being deleted gives its id up
    spec = DecoderSpec.model_validate({"stream": {"name": "plB"}, "model": "m",
                                       "options": {"output_source_id": "lab-out"}})
    assert reserve(handles, "b", spec, "local").spec.options.output_source_id == "lab-out"


def test_an_output_source_id_equal_to_the_inputs_is_refused_as_output_name_is():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"options.output_source_id must differ from stream.source_id"):
        DecoderSpec.model_validate({"stream": {"name": "amp", "source_id": "amp-1"}, "model": "m",
                                    "options": {"output_source_id": "amp-1"}})


def test_a_decoder_ended_for_good_or_of_another_stream_is_no_twin():
    """A decoder in error for good (its stream never found: its restarts used up) or stopping shares no outlet with
    a new one; a running decoder whose resolved stream the new selector cannot match (selected by another field) is
    none either. Before, selectors alone were compared and decoders in error counted: the next decoder of the stream
    published under '/<its id>', and lost it once the failed one was deleted (audit s69publish F2)."""
    spec = DecoderSpec.model_validate({"stream": {"name": "amp"}, "model": "m"})
    failed = reserve({}, "a", spec, "local")
    failed.exit_code, failed.restart_at = 1, None
    handles = {"a": failed}
    assert reserve(handles, "b", spec, "local").spec.options.output_instance is None
    restarting = reserve({}, "a", spec, "local")
    restarting.exit_code, restarting.restart_at = 1, 123.0  # it comes back: still a twin
    assert reserve({"a": restarting}, "b", spec, "local").spec.options.output_instance == "b"
    by_id = reserve({}, "x", DecoderSpec.model_validate({"stream": {"source_id": "in_src"}, "model": "m"}), "local")
    by_id.status = WorkerStatus(state="running", stream={"name": "in", "source_id": "in_src", "type": "EEG"})
    other = DecoderSpec.model_validate({"stream": {"name": "in2"}, "model": "m"})
    assert reserve({"x": by_id}, "y", other, "local").spec.options.output_instance is None
    same = DecoderSpec.model_validate({"stream": {"name": "in"}, "model": "m"})
    assert reserve({"x": by_id}, "z", same, "local").spec.options.output_instance == "z"
