"""The crash policy (bci_stream.service.restart_policy): the budget and backoff count the crashes since a worker
generation last ran healthy (``restart_reset_s``); ``restarts`` counts them all; ``starting`` while a restart is
pending, ``error`` only when final. Times are given explicitly (no clock is read)."""

from __future__ import annotations

import pytest

from bci_stream.core.errors import PlacementError
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.backends.starts import WorkerStartFailed
from bci_stream.service.restart_policy import RestartPolicy


def handle() -> DecoderHandle:
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    h.last_error = "worker process 7 exited with code -9 (signal 9)"
    return h


def crash(policy: RestartPolicy, h: DecoderHandle, ran_at: float | None, now: float) -> float | None:
    """A generation that reported ``running`` at ``ran_at`` (None: never) dies at ``now``."""
    h.running_since = None
    if ran_at is not None:
        policy.saw(h, "running", ran_at)
    return policy.crashed(h, now, refused=False)


def test_a_crash_after_a_healthy_run_is_a_first_crash_again():
    policy, h = RestartPolicy(max_restarts=2, backoff=0.5, healthy_s=60.0), handle()
    assert crash(policy, h, 0.0, 10.0) == 0.5
    assert crash(policy, h, 11.0, 20.0) == 1.0  # ran 9 s: not healthy, the backoff doubles
    assert h.status.state == "starting" and h.status.error == h.last_error and h.restart_at == 21.0
    for k in range(10):  # a crash every 2 hours, each after a healthy run: never final, always the first backoff
        t0 = 1000.0 + 7200.0 * k
        assert crash(policy, h, t0, t0 + 7000.0) == 0.5
        assert h.recent_restarts == 1 and h.status.state == "starting"
    assert h.restarts == 12  # the lifetime count (status, metrics)


def test_crashes_in_quick_succession_end_in_error_after_max_restarts():
    policy, h = RestartPolicy(max_restarts=3, backoff=0.5, healthy_s=60.0), handle()
    delays = [crash(policy, h, 1.0 + 10 * i, 5.0 + 10 * i) for i in range(4)]
    assert delays == [0.5, 1.0, 2.0, None]
    assert h.status.state == "error" and h.restarts == 3 and h.restart_at is None
    assert crash(policy, h, None, 100.0) is None  # a worker that never ran: still final


def test_the_crash_that_uses_up_the_restarts_says_so_and_is_logged(caplog):
    """Before (audits s61ray F5, s61life F3), its ``last_error`` was the words of each restarted crash, and the log had
    no line for it: nothing told an operator that nothing would restart the decoder."""
    policy, h = RestartPolicy(max_restarts=2, backoff=0.5, healthy_s=60.0), handle()
    caplog.set_level("ERROR", logger="bci_stream.supervisor")
    assert [crash(policy, h, 1.0 + 10 * i, 5.0 + 10 * i) for i in range(3)] == [0.5, 1.0, None]
    said = ("worker process 7 exited with code -9 (signal 9); not restarted: its restarts are used up (2/2 since it "
            "last ran healthy, 60 s in a row; settings max_restarts, restart_reset_s): it stays in error until deleted")
    assert h.last_error == said and h.status.error == said and h.status.state == "error"
    assert caplog.messages[-1] == f"decoder d1: {said}"
    assert "restart 2/2" in caplog.messages[-2]  # each restarted crash's line, as before


def test_the_reset_needs_the_run_not_the_time_between_crashes():
    """A worker that never reports ``running`` (dies at start) does not reset the budget however long it took."""
    policy, h = RestartPolicy(max_restarts=1, backoff=0.5, healthy_s=1.0), handle()
    assert crash(policy, h, 0.0, 5.0) == 0.5
    assert crash(policy, h, None, 500.0) is None
    assert h.status.state == "error" and h.restarts == 1


def test_a_refused_worker_is_final_at_once():
    policy, h = RestartPolicy(max_restarts=3, backoff=0.5), handle()
    policy.saw(h, "running", 0.0)
    assert policy.crashed(h, 1000.0, refused=True) is None
    assert h.status.state == "error" and h.restarts == 0 and h.restart_at is None


def test_failed_starts_use_the_same_budget_and_show_starting_while_retried():
    policy, h = RestartPolicy(max_restarts=2, backoff=0.5, healthy_s=60.0), handle()
    policy.saw(h, "running", 0.0)
    assert policy.crashed(h, 100.0, refused=False) == 0.5  # ran healthy: first backoff
    h.running_since = None
    assert policy.start_failed(h, WorkerStartFailed("no actor within 30 s"), 101.0) == 1.0
    assert h.status.state == "starting" and h.restarts == 2 and h.recent_restarts == 2 and h.restart_at == 102.0
    assert "restart 2/2 in 1.0 s" in h.last_error
    assert policy.start_failed(h, WorkerStartFailed("no actor within 30 s"), 103.0) is None
    assert h.status.state == "error" and "(2/2 restarts used)" in h.last_error and h.restarts == 2
    h2 = handle()
    assert policy.start_failed(h2, PlacementError("no node has resources {'GPU': 1}"), 0.0) is None
    assert h2.status.state == "error" and h2.restarts == 0


def test_a_crash_ends_a_stall_in_the_status():
    from dataclasses import replace
    policy, h = RestartPolicy(max_restarts=1, backoff=0.5), handle()
    h.status = replace(h.status, state="stalled", stall={"kind": "silent", "seconds": 3.0})
    policy.crashed(h, 1.0, refused=False)
    assert h.status.state == "starting" and h.status.stall is None


def test_the_reset_time_must_be_positive():
    with pytest.raises(ValueError, match=r"restart_reset_s must be > 0 seconds, got 0"):
        RestartPolicy(3, 0.5, 0)


def test_a_generation_waiting_for_its_stream_that_long_is_healthy_too():
    """A decoder still ``connecting`` (its amplifier not on yet) on a shared worker that its neighbours crashed now and
    then: each crash used its budget, and the fourth, minutes after the first, ended it in ``error`` for good (audit
    s62multi F7). Waiting ``restart_reset_s`` for its stream is a healthy run; crashes soon after a start still add up."""
    policy, h = RestartPolicy(max_restarts=3, backoff=0.5, healthy_s=60.0), handle()
    for k in range(6):  # a crash of its worker every 70 s, each generation connecting all along
        h.running_since = None
        policy.saw(h, "connecting", 70.0 * k)
        assert policy.crashed(h, 70.0 * k + 65.0, refused=False) == 0.5 and h.status.state == "starting"
    h.running_since = None
    policy.saw(h, "connecting", 1000.0)
    assert [policy.crashed(h, 1001.0 + k, refused=False) for k in range(4)][-1] is None and h.status.state == "error"
