"""A dedicated worker that reports its failure and then hangs in its clean-up exits all the same, with the failure's
exit code, after ``cleanup_limit_s``; its last status says so (review s61 F5). Before, the process lived on: the
supervisor, which judges a worker's end when its process ends, never judged it; a crash showed ``starting`` for good
(in neither ``/ready``'s ``decoders_in_error`` nor ``decoders_unresponsive``), a refusal was never reaped.

Real processes (spawned as the service's workers are), real status pipes, a real model registry; the hang is a clean-up
that waits on an event nobody sets (:mod:`support.hung_cleanup`)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.worker_entry import EXIT_REFUSED
from bci_stream.service.pool_messages import SavedState
from support.hung_cleanup import run_then_hang, run_then_live_on
from support.common import unique


@pytest.mark.parametrize(("crash", "code", "state", "said"), [
    (True, 1, "starting", "worker crashed: Traceback"),
    (False, EXIT_REFUSED, "error", "no-such-model"),
])
def test_a_failed_worker_hung_in_its_clean_up_exits_with_its_code(models_dir, crash, code, state, said):
    ctx = mp.get_context("spawn")
    status_parent, status_child = ctx.Pipe(duplex=False)
    cmd_parent, cmd_child = ctx.Pipe()
    model = "tiny-gru" if crash else "no-such-model"
    spec = DecoderSpec.model_validate({"stream": {"name": unique("hungclean")}, "model": model})
    process = ctx.Process(target=run_then_hang, args=(spec.model_dump_json(), str(models_dir), cmd_child,
                                                      status_child, 1.0, crash), daemon=True)
    process.start()
    status_child.close()
    seen = []
    try:
        while True:  # every snapshot, to the pipe's end (the process's exit closes it)
            if status_parent.poll(60):
                try:
                    if not isinstance(message := status_parent.recv()[2], SavedState):  # (a state snapshot)
                        seen.append(message)
                except EOFError:
                    break
            else:
                pytest.fail(f"no status for 60 s; states so far {[s.state for s in seen]}")
        process.join(60)
    finally:
        if process.is_alive():
            process.kill()
            process.join(5)
        cmd_parent.close()
    assert process.exitcode == code, process.exitcode
    last = seen[-1]
    assert last.state == state, [s.state for s in seen]
    assert said in last.error, last.error
    assert last.error.endswith(f"then its clean-up did not end within 1 s (hung closing its inlet, outlets or "
                               f"recording): the worker exited with code {code} without it"), last.error


def test_the_timer_ends_with_a_clean_up_that_ended(models_dir):
    """A worker run in a process that lives on after it (as a test runs one): its failure's timer is cancelled once its
    clean-up ended (before, it ended that process 10 s later: a pytest worker 'crashed' in the middle of another
    test)."""
    ctx = mp.get_context("spawn")
    status_parent, status_child = ctx.Pipe(duplex=False)
    cmd_parent, cmd_child = ctx.Pipe()
    spec = DecoderSpec.model_validate({"stream": {"name": unique("liveson")}, "model": "no-such-model"})
    process = ctx.Process(target=run_then_live_on, args=(spec.model_dump_json(), str(models_dir), cmd_child,
                                                          status_child, 0.5), daemon=True)
    process.start()
    process.join(60)
    if process.is_alive():
        process.kill()
    cmd_parent.close()
    assert process.exitcode == 0, process.exitcode  # not EXIT_REFUSED from the timer
