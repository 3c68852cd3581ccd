"""``placement.node_id`` names a Ray node by its id, by ``ray status``'s ``node_<hex>``, or by a prefix of 8 or more
digits that only one alive node's id starts with (audit s45, Ray F4). The node list is plain data (``ray.nodes()``'s
dicts), so this runs without Ray."""

from __future__ import annotations

import pytest

from bci_stream.core.errors import PlacementError
from bci_stream.core.spec import Placement
from bci_stream.service.backends.ray_nodes import named_nodes

NODES = [{"NodeID": "ab12cd34ef" + "0" * 46}, {"NodeID": "ab12cd34ff" + "1" * 46}, {"NodeID": "99" * 28}]


def test_node_ids_as_ray_status_prints_them_and_in_capitals_are_ids():
    assert Placement(node_id="node_" + "AB" * 28).node_id == "ab" * 28
    assert Placement(node_id="ab12cd34").node_id == "ab12cd34"


def test_a_prefix_names_the_one_node_it_starts_and_an_ambiguous_one_is_refused():
    assert named_nodes(NODES, "NodeID", NODES[2]["NodeID"], {}) == [NODES[2]]
    assert named_nodes(NODES, "NodeID", "ab12cd34ef", {}) == [NODES[0]]
    assert named_nodes(NODES, "NodeID", "9999999", {}) == []  # 7 digits: too short to be taken as a prefix
    with pytest.raises(PlacementError, match=r"node_id 'ab12cd34' is the start of more than one alive node's id "
                                             r"\(ab12cd34ef0+, ab12cd34ff1+\): give more of it"):
        named_nodes(NODES, "NodeID", "ab12cd34", {"node_id": "ab12cd34"})
    assert named_nodes([{"NodeManagerHostname": "pc-ab"}], "NodeManagerHostname", "pc-a", {}) == []  # hosts: exact only


@pytest.mark.parametrize("resources", [{"room_a": 0.00001}, {"room_a": 1.00005}, {"memory": 1},
                                       {"object_store_memory": 1}, {"room_a": 0}, {"": 1}])
def test_resources_ray_refuses_are_refused_naming_the_rule(resources):
    """Ray refuses finer amounts than 0.0001 and its own memory resources in ``.options()``: the service answered a
    500 (audit s70ray F2); the request is now refused as invalid, naming the rule and the value."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"placement.resources must map names to amounts > 0 in steps of 0.0001 "
                                              r"\(Ray's precision\), not Ray's own memory or object_store_memory; got "):
        Placement(resources=resources)
    assert Placement(resources={"room_a": 0.5, "CPU": 2, "GPU": 0.0001}).resources == {"room_a": 0.5, "CPU": 2,
                                                                                       "GPU": 0.0001}
