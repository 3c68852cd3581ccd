"""A model that fails to load for lack of memory or file descriptors is "retry later" only so many times in a row
(:class:`~bci_stream.core.load_errors.TransientLoadFailures`): then a ModelError that names the model, the count and
the last error, and says it will not be retried automatically. Another model or a success starts the count anew."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

from bci_stream.core.errors import ModelError, ModelUnavailableError
from bci_stream.core.load_errors import MAX_TRANSIENT_LOAD_FAILURES, TransientLoadFailures, load_error

EMFILE = load_error(OSError(errno.EMFILE, "Too many open files"), "model 'big'")


def test_the_nth_failure_in_a_row_is_a_model_error_naming_model_count_and_last_error():
    failures = TransientLoadFailures()
    for _ in range(MAX_TRANSIENT_LOAD_FAILURES - 1):
        assert failures.failed("sha-big", "model 'big'", EMFILE) is EMFILE
    error = failures.failed("sha-big", "model 'big'", EMFILE)
    assert type(error) is ModelError and error.retry is None
    assert str(error).startswith(f"model 'big' failed to load {MAX_TRANSIENT_LOAD_FAILURES} times in a row for lack "
                                 "of memory or file descriptors (last: EMFILE: Too many open files ([Errno 24] Too "
                                 "many open files)); it will not be retried automatically"), error
    assert "retry later" not in str(error)


def test_another_model_or_a_success_starts_the_count_anew():
    failures = TransientLoadFailures(limit=2)
    assert failures.failed("a", "model 'a'", EMFILE) is EMFILE
    assert failures.failed("b", "model 'b'", EMFILE) is EMFILE  # another model: its first failure
    assert failures.failed("a", "model 'a'", EMFILE) is EMFILE  # and a's count started anew
    failures.clear()  # a success
    assert failures.failed("a", "model 'a'", EMFILE) is EMFILE
    assert isinstance(failures.failed("a", "model 'a'", EMFILE), ModelError)


def test_a_limit_of_one_and_a_bad_limit():
    error = TransientLoadFailures(limit=1).failed("a", "model 'a'", EMFILE)
    assert str(error).startswith("model 'a' failed to load 1 time for lack of memory"), error
    with pytest.raises(ValueError, match="limit must be >= 1 transient load failure, got 0"):
        TransientLoadFailures(limit=0)


def test_the_unavailable_error_carries_its_cause_and_kind():
    assert isinstance(EMFILE, ModelUnavailableError) and EMFILE.retry is not None
    assert EMFILE.cause == "EMFILE: Too many open files ([Errno 24] Too many open files)"
    assert str(EMFILE).endswith("retry later") and EMFILE.cause in str(EMFILE)


def test_storage_errors_and_busy_files_are_retry_later_every_time():
    """Only a shortage of memory or file descriptors says the model may never fit: EIO, EBUSY... stay 503."""
    failures = TransientLoadFailures()
    for code in (errno.EIO, errno.EBUSY, errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT, errno.ETXTBSY):
        error = load_error(OSError(code, os.strerror(code)), "model 'm'")
        assert isinstance(error, ModelUnavailableError) and not error.shortage and error.what == "model 'm'"
        for _ in range(MAX_TRANSIENT_LOAD_FAILURES + 1):
            assert failures.failed("sha-m", "model 'm'", error) is error
    assert EMFILE.shortage and load_error(MemoryError(), "model 'm'").shortage
    assert all(load_error(OSError(code, "x"), "m").shortage for code in (errno.ENOMEM, errno.ENFILE, errno.ENOBUFS))
    assert isinstance(failures.failed("sha-m", "model 'm'", EMFILE), ModelUnavailableError)  # the EIOs did not count


def test_the_shortage_survives_pickling():
    """A worker's error crosses a pipe to the supervisor or the API."""
    again = pickle.loads(pickle.dumps(EMFILE))
    assert again.shortage and again.what == "model 'big'" and again.cause == EMFILE.cause
