"""``last_error`` of a decoder whose worker ended (not a refusal): the backend's exit message, and what the worker
said before it when that tells why (:func:`~bci_stream.service.restart_policy.exit_error`)."""

from __future__ import annotations

from types import SimpleNamespace

from bci_stream.service.restart_policy import exit_error


def _handle(error: str | None, code: int = 1) -> SimpleNamespace:
    return SimpleNamespace(id="d1", exit_code=code, slot_exit=None, process=SimpleNamespace(pid=7),
                           status=SimpleNamespace(error=error))


def test_a_ray_actor_whose_node_went_down_says_so_in_last_error():
    """Its own message (its parent, the raylet, ended) was only in the serve log: last_error read as a crash
    (audit s70ray F5)."""
    said = ("ray actor of pid 11264 on node 5117e98e (vm): its parent process 8352 (the node's Ray raylet) ended: the "
            "node went down or Ray was stopped there; the decoder is restarted on a node that meets its placement")
    exit_message = "ray actor of pid 11264 on node 5117e98e (vm) ended with code 1"
    assert exit_error(_handle(said), exit_message) == f"{exit_message}; its last error: {said}"
    assert exit_error(_handle("decoder d1: something else"), exit_message) == exit_message
