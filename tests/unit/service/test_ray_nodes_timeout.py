"""``ray.nodes()`` has no timeout of its own: with Ray's GCS paused, a POST waited for minutes and a restart hung
(audit s70ray F4). The placement check asks it in a thread and gives up after ``ray_start_timeout``, as a start that
did not start (retried on a restart, a 422 for a POST)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ray")

from bci_stream.service.backends import ray_nodes  # noqa: E402
from bci_stream.service.backends.starts import WorkerStartFailed  # noqa: E402


def test_a_gcs_that_does_not_answer_is_given_up_after_the_timeout(monkeypatch):
    import ray

    release = threading.Event()
    monkeypatch.setattr(ray, "nodes", lambda: release.wait(30) and [])  # a GCS that does not answer
    try:
        with pytest.raises(WorkerStartFailed, match=r"^the Ray cluster's GCS did not list its nodes within 0.2 s "
                                                    r"\(ray_start_timeout\)"):
            ray_nodes.alive_nodes(0.2)
    finally:
        release.set()
    monkeypatch.setattr(ray, "nodes", lambda: [{"NodeID": "a", "Alive": True}, {"NodeID": "b", "Alive": False}])
    assert ray_nodes.alive_nodes(5.0) == [{"NodeID": "a", "Alive": True}]
    monkeypatch.setattr(ray, "nodes", lambda: (_ for _ in ()).throw(RuntimeError("not connected")))
    with pytest.raises(RuntimeError, match="not connected"):  # its own error, in the caller's thread
        ray_nodes.alive_nodes(5.0)
