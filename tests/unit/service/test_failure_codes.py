"""What a worker's exit code says of a failure, so the supervisor restarts what a restart can cure: a refusal (the
model or stream is wrong) is not restarted; a model the worker cannot load *now* (out of memory or file descriptors)
is, like a crash, but with its own message rather than a traceback."""

from __future__ import annotations

import errno

from bci_stream.core.errors import ModelError
from bci_stream.core.load_errors import load_error
from bci_stream.service.worker import EXIT_REFUSED, EXIT_UNAVAILABLE, describe_failure


def test_a_model_the_worker_cannot_load_now_is_restarted():
    exc = load_error(OSError(errno.EMFILE, "Too many open files"), "model 'm'")
    code, error = describe_failure(exc)
    assert code == EXIT_UNAVAILABLE and error == f"cannot load model 'm' now: {exc.cause}" and "EMFILE" in error
    assert "retry later" not in error  # the supervisor retries (or gives up) itself: the advice is the API's


def test_a_refused_model_is_not_restarted_and_a_crash_is():
    assert describe_failure(ModelError("model 'm' is corrupt")) == (EXIT_REFUSED, "model 'm' is corrupt")
    code, error = describe_failure(ZeroDivisionError("x"))
    assert code == 1 and error.startswith("worker crashed: ") and "ZeroDivisionError" in error
