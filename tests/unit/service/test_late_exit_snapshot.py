"""A worker that fails fast at start writes its ``error`` snapshot and exits at once: the snapshot may still be
pending on its status pipe when the supervisor notices the exit. The supervisor reads what the dead worker left before
it judges the exit, so ``last_error`` keeps the worker's error (or the give-up text), and a snapshot read after the
judgement cannot flip a decoder waiting for its restart to ``error``. Real worker processes, real pipes, the real
Supervisor methods (its monitor thread stopped, so that the order is the test's)."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.supervisor import Supervisor
from bci_stream.service.worker_entry import EXIT_UNAVAILABLE
from support.idle_supervisor import idle_supervisor

SAID = "cannot load model 'big' into onnxruntime now: EMFILE: Too many open files ([Errno 24] Too many open files)"
CTX = mp.get_context("fork")  # the target lives in this test module


def fail_fast(conn) -> None:
    """A worker that reports ``starting``, then its error, then exits with EXIT_UNAVAILABLE (nothing read meanwhile)."""
    conn.send(("d1", 0, WorkerStatus(state="starting")))
    conn.send(("d1", 0, WorkerStatus(state="error", error=SAID)))
    conn.close()
    raise SystemExit(EXIT_UNAVAILABLE)


@pytest.fixture
def supervisor(tmp_path):
    with idle_supervisor(tmp_path, max_restarts=1) as sup:
        yield sup


def dead_worker(sup: Supervisor) -> tuple[DecoderHandle, object]:
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    reader, writer = CTX.Pipe(duplex=False)
    handle.process = CTX.Process(target=fail_fast, args=(writer,), daemon=True)
    handle.process.start()
    writer.close()
    handle.process.join(20.0)
    assert handle.process.exitcode == EXIT_UNAVAILABLE
    handle.status_conn = reader
    with sup._lock:
        sup._handles[handle.id] = handle
    return handle, reader


def next_monitor_reads(sup: Supervisor, handle: DecoderHandle, conn) -> None:
    """What the monitor thread would read next from the pipe (a late snapshot, if the judgement left one)."""
    while handle.status_conn is conn and not conn.closed and conn.poll(0):
        sup._receive(conn, handle)


def test_a_first_failure_keeps_its_error_and_stays_starting(supervisor):
    handle, conn = dead_worker(supervisor)
    assert supervisor._check_processes(time.monotonic()) == []
    next_monitor_reads(supervisor, handle, conn)
    assert handle.exit_code == EXIT_UNAVAILABLE and handle.restart_at is not None
    assert handle.last_error == f"worker process {handle.process.pid} exited with code 4; its last error: {SAID}"
    assert handle.status.state == "starting" and handle.status.error == handle.last_error


def test_the_give_up_text_is_not_overwritten_by_a_late_snapshot(supervisor):
    handle, conn = dead_worker(supervisor)
    handle.load_failures = handle.recent_restarts = 1  # its previous worker failed the same way: budget used up
    assert supervisor._check_processes(time.monotonic()) == []
    next_monitor_reads(supervisor, handle, conn)
    assert handle.restart_at is None and handle.status.state == "error"
    assert handle.last_error.startswith(f"model 'big' failed to load 2 times in a row for a condition of the server "
                                        f"(last: {SAID}); it will not be retried automatically"), handle.last_error


def quiet_exit(conn) -> None:
    """A worker that reports ``running`` and exits with code 1 before its last word reaches the pipe."""
    conn.send(("d1", 0, WorkerStatus(state="running")))
    raise SystemExit(1)


def quietly_ended(sup: Supervisor, shared: bool) -> tuple[DecoderHandle, object, object]:
    """A decoder whose worker (:func:`quiet_exit`; a shared one's stream when ``shared``) ended, its end judged by
    ``sup``; the handle and both ends of its real status pipe (the test writes the late word)."""
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "big"}))
    reader, writer = CTX.Pipe(duplex=False)
    handle.process = CTX.Process(target=quiet_exit, args=(writer,), daemon=True)
    handle.process.start()
    handle.process.join(20.0)
    handle.status_conn, handle.slot_exit = reader, (1 if shared else None)
    with sup._lock:
        sup._handles[handle.id] = handle
    assert sup._check_processes(time.monotonic()) == []
    return handle, reader, writer


@pytest.mark.parametrize("shared", [False, True])
def test_a_word_read_after_the_end_was_judged_joins_the_ends_message(supervisor, shared: bool):
    """A shared worker's stream ended ("decoder … ended with code 1 in shared worker pid …: None") before its
    status snapshot with the reason came (a loaded machine): the snapshot replaced the end's message with its bare
    word (f07's kill -9 of the fork server failed on it in a loaded run). Now the end's message is rebuilt with the
    word."""
    handle, reader, writer = quietly_ended(supervisor, shared)
    word = "shared worker 0: its parent process 4242 ended (the service's fork server, killed?)"
    writer.send(("d1", 0, WorkerStatus(state="error", error=word)))  # the late snapshot, on the real pipe
    next_monitor_reads(supervisor, handle, reader)
    pid = handle.process.pid
    if shared:
        assert handle.last_error == f"decoder d1 ended with code 1 in shared worker pid {pid}: {word}"
    else:  # a dedicated worker's exit code says it; its word is in the status
        assert handle.last_error == f"worker process {pid} exited with code 1" and handle.status.error == word
    writer.close()


@pytest.mark.parametrize("shared", [False, True])
def test_a_late_word_after_a_final_judgement_leaves_the_decoder_in_error(tmp_path, shared: bool):
    """Review s61 F1: the worker's last snapshot says ``starting`` now (``StatusReporter.set_failed``: only the
    supervisor knows whether a restart comes); read after the supervisor judged the end final (no restart left), it
    turned the decoder ``starting`` for good, and its word replaced the end's message and the "not restarted" words.
    The state is the supervisor's once it judged the end; the word joins the message, the words stay."""
    from bci_stream.service.reporter import StatusReporter
    from bci_stream.service.restart_policy import final
    from bci_stream.service.status_channel import StatusSender

    with idle_supervisor(tmp_path, max_restarts=0) as sup:
        handle, reader, writer = quietly_ended(sup, shared)
        assert handle.status.state == "error" and final(handle)
        sender = StatusSender(writer)  # the late snapshot, as the worker's code sends it, on the real pipe
        StatusReporter("d1", 0, sender, 1.0, lambda kind, **fields: None).set_failed(1, "worker crashed: boom")
        sender.close()
        while handle.status_conn is reader and not reader.closed and reader.poll(0.2):
            sup._receive(reader, handle)
        for _ in range(3):  # later rounds of the monitor: nothing restarts it
            assert sup._check_processes(time.monotonic()) == []
        assert handle.status.state == "error" and final(handle), handle.status.state
        pid = handle.process.pid
        end = (f"decoder d1 ended with code 1 in shared worker pid {pid}: worker crashed: boom" if shared
               else f"worker process {pid} exited with code 1; its last error: worker crashed: boom")
        assert handle.last_error == f"{end}; not restarted (setting max_restarts is 0): it stays in error until " \
                                    "deleted", handle.last_error
