"""A shared worker of other code that cannot read a message of the service's ends with EXIT_REFUSED without
sending its decoders a refusal: their error still says why (:func:`refused_without_reason`), never a bare
``error`` with ``last_error`` None."""

from __future__ import annotations

import multiprocessing as mp

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.shared_pool import refused_without_reason
from bci_stream.service.worker_entry import EXIT_REFUSED, refuse_streams

WHY = "the bci-stream code on disk changed since serve started (test): restart serve"


def _handle(worker: str = "shared") -> DecoderHandle:
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m", "options": {"worker": worker}})
    handle = DecoderHandle(id="d1", spec=spec)
    handle.generation, handle.worker = 1, {"kind": worker, "index": 2 if worker == "shared" else None, "pid": 9}
    return handle


def test_a_shared_worker_that_ends_refused_without_a_refusal_gives_its_decoders_a_reason():
    supervisor_end, worker_end = mp.Pipe()
    supervisor_end.send_bytes(b"\x80\x05not a pickle")  # a message the refusing worker cannot read
    handle = _handle()
    handle.exit_code = refuse_streams(worker_end, 2, WHY)  # the worker process's exit code: no refusal was sent
    assert refused_without_reason(handle) == ("its shared worker (index 2) refused it (exit code 3) without a "
                                              "reason it could send")


def test_no_reason_is_made_up_when_the_refusal_said_one_or_the_decoder_was_not_refused():
    said = _handle()
    said.exit_code = said.slot_exit = EXIT_REFUSED  # the refusal reached it (its reason is in its status)
    crashed = _handle()
    crashed.exit_code = 1
    dedicated = _handle("dedicated")
    dedicated.exit_code = EXIT_REFUSED
    assert [refused_without_reason(h) for h in (said, crashed, dedicated)] == [None, None, None]
