"""Which alive Ray nodes a placement's ``node_id`` or ``hostname`` names (``ray.nodes()``'s dicts; no Ray needed).

A ``node_id`` is a node's id, or (at least :data:`MIN_NODE_PREFIX` digits) the start of only one alive node's id: the
service's own messages show ids cut to 12 digits. ``ray status``'s ``node_<hex>`` is taken as ``<hex>`` by the
request's schema (:class:`~bci_stream.core.spec.Placement`). A hostname is matched exactly.
"""

from __future__ import annotations

import threading
from typing import Any

from bci_stream.core.errors import PlacementError
from bci_stream.service.backends.starts import WorkerStartFailed

#: The shortest prefix of a node id that ``placement.node_id`` may give (the service's messages show 12 digits).
MIN_NODE_PREFIX = 8


def named_nodes(nodes: list[dict[str, Any]], key: str, value: str, asked: Any) -> list[dict[str, Any]]:
    """The alive ``nodes`` whose ``key`` is ``value``; for ``NodeID``, also those whose id starts with it (at least
    :data:`MIN_NODE_PREFIX` digits; PlacementError when it names more than one)."""
    named = [n for n in nodes if n.get(key) == value]
    if named or key != "NodeID" or len(value) < MIN_NODE_PREFIX:
        return named
    named = [n for n in nodes if str(n.get("NodeID", "")).startswith(value)]
    if len(named) > 1:
        ids = ", ".join(n["NodeID"] for n in named)
        raise PlacementError(f"placement {asked}: node_id {value!r} is the start of more than one alive node's id "
                             f"({ids}): give more of it", field="node_id")
    return named


def alive_nodes(timeout: float) -> list[dict[str, Any]]:
    """``ray.nodes()``'s alive nodes, or WorkerStartFailed (a start to try again: a restart is retried, a POST answered
    422) when Ray's GCS does not answer within ``timeout`` s: the call
    has no timeout of its own, and a POST or a restart waited on it for minutes with the GCS paused (audit s70ray F4;
    the call then goes on in a thread of its own, answered or not)."""
    import ray

    found: list[Any] = []

    def ask() -> None:
        try:
            found.append(ray.nodes())
        except Exception as exc:  # noqa: BLE001 - raised in the caller's thread
            found.append(exc)

    asker = threading.Thread(target=ask, name="bci-stream-ray-nodes", daemon=True)
    asker.start()
    asker.join(timeout)
    if not found:
        raise WorkerStartFailed(f"the Ray cluster's GCS did not list its nodes within {timeout:g} s "
                                "(ray_start_timeout): the head is down or overloaded; the placement cannot be checked")
    if isinstance(found[0], Exception):
        raise found[0]
    return [n for n in found[0] if n.get("Alive")]


__all__ = ["MIN_NODE_PREFIX", "alive_nodes", "named_nodes"]
