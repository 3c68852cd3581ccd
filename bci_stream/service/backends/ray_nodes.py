"""Which alive Ray nodes a placement's ``node_id`` or ``hostname`` names (``ray.nodes()``'s dicts; no Ray needed).

A ``node_id`` is a node's id, or (at least :data:`MIN_NODE_PREFIX` digits) the start of only one alive node's id: the
service's own messages show ids cut to 12 digits. ``ray status``'s ``node_<hex>`` is taken as ``<hex>`` by the
request's schema (:class:`~bci_stream.core.spec.Placement`). A hostname is matched exactly.
"""

from __future__ import annotations

from typing import Any

from bci_stream.core.errors import PlacementError

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


__all__ = ["MIN_NODE_PREFIX", "named_nodes"]
