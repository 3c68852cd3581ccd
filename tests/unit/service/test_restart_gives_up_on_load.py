"""A decoder whose workers cannot load its model (a condition of the server: exit code EXIT_UNAVAILABLE) at each
start ends, once the restart budget is used up, with a ``last_error`` that says so as a hot swap's refusal does: the
model, how many times in a row, the last error, not retried automatically. After a single such failure, it is the
exit and the worker's error, with no claim that the model may never fit. Its worker's own error is kept in
``last_error`` meanwhile (it was only 'worker process N exited with code 1')."""

from __future__ import annotations

import errno
from dataclasses import replace

from bci_stream.core.load_errors import load_error
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.restart_policy import RestartPolicy
from bci_stream.service.worker import describe_failure
from bci_stream.service.worker_entry import EXIT_UNAVAILABLE

CODE, SAID = describe_failure(load_error(OSError(errno.EMFILE, "Too many open files"), "model 'big' into onnxruntime"))


def exit_(policy: RestartPolicy, h: DecoderHandle, code: int, now: float) -> float | None:
    h.exit_code, h.running_since = code, None
    h.status = replace(h.status, state="error", error=SAID if code == EXIT_UNAVAILABLE else "worker crashed: x")
    h.last_error = f"worker process 7 exited with code {code}; its last error: {h.status.error}"
    return policy.crashed(h, now, refused=False)


def test_a_model_that_never_loads_at_start_says_so_when_the_restarts_are_used_up():
    policy = RestartPolicy(max_restarts=3, backoff=0.5, healthy_s=60.0)
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    assert [exit_(policy, h, EXIT_UNAVAILABLE, float(t)) for t in range(4)] == [0.5, 1.0, 2.0, None]
    assert h.status.state == "error" and h.status.error == h.last_error
    assert CODE == EXIT_UNAVAILABLE and SAID.startswith("cannot load model 'big' into onnxruntime now: EMFILE: Too "
                                                        "many open files ([Errno 24] Too many open files)")
    assert h.last_error.startswith(f"model 'big' failed to load 4 times in a row for a condition of the server (last: "
                                   f"{SAID}); it will not be retried automatically"), h.last_error
    assert "may never fit" not in h.last_error and "retry later" not in h.last_error


def test_a_crash_between_starts_the_count_anew():
    policy = RestartPolicy(max_restarts=3, backoff=0.5, healthy_s=60.0)
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    codes = [EXIT_UNAVAILABLE, EXIT_UNAVAILABLE, 1, EXIT_UNAVAILABLE]
    assert [exit_(policy, h, c, float(t)) for t, c in enumerate(codes)][-1] is None
    assert h.load_failures == 1 and h.last_error == (f"worker process 7 exited with code 4; its last error: {SAID}; not "
                                                     "restarted: its restarts are used up (3/3 since it last ran "
                                                     "healthy, 60 s in a row; settings max_restarts, restart_reset_s):"
                                                     " it stays in error until deleted")
    assert h.status.state == "error" and "not be retried" not in h.last_error


def test_a_single_failure_with_no_restarts_allowed_says_only_what_happened():
    policy = RestartPolicy(max_restarts=0, backoff=0.5, healthy_s=60.0)
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    assert exit_(policy, h, EXIT_UNAVAILABLE, 0.0) is None
    assert h.last_error == (f"worker process 7 exited with code 4; its last error: {SAID}; not restarted (setting "
                            "max_restarts is 0): it stays in error until deleted")


def test_a_crash_is_final_with_its_own_message():
    policy = RestartPolicy(max_restarts=0, backoff=0.5, healthy_s=60.0)
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    assert exit_(policy, h, 1, 0.0) is None and h.last_error.startswith("worker process 7 exited with code 1")
