"""Graph: validation (unknown deps, duplicate keys, cycles), order, critical path, kind closure."""

from __future__ import annotations

from typing import ClassVar

import pytest

from provisioner.engine import PermanentError
from provisioner.engine.graph import Graph, critical_path

from .fakes import Thing


class Net(Thing):
    type: ClassVar[str] = "fake:net"


class Sub(Thing):
    type: ClassVar[str] = "fake:sub"


class Nat(Thing):
    type: ClassVar[str] = "fake:nat"


def node(key: str, *deps: str, kind: type[Thing] = Thing) -> Thing:
    return kind(key=key, depends_on=deps)


DIAMOND = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}


def test_build_graph_unknown_dependency_names_node_and_dependency() -> None:
    with pytest.raises(PermanentError) as info:
        Graph.build([node("a"), node("b", "a", "ghost", "phantom")])
    assert info.value.key == "b"
    assert info.value.describe() == "b: depends on unknown node(s) ghost, phantom"


def test_build_graph_duplicate_key_names_the_key() -> None:
    with pytest.raises(PermanentError) as info:
        Graph.build([node("a"), node("b"), node("a", "b")])
    assert info.value.key == "a"
    assert "two nodes share the key a" in str(info.value)


def test_build_graph_cycle_names_the_keys_in_it() -> None:
    with pytest.raises(PermanentError, match="dependency cycle") as info:
        Graph.build([node("a", "c"), node("b", "a"), node("c", "b"), node("free")])
    assert "a, b, c" in info.value.message
    assert "free" not in info.value.message


def test_build_graph_self_dependency_is_a_cycle() -> None:
    with pytest.raises(PermanentError, match="dependency cycle among a"):
        Graph.build([node("a", "a")])


def test_order_graph_dependencies_first_ties_by_key() -> None:
    nodes = [
        node("d", "b", "c"),
        node("c", "a"),
        node("b", "a"),
        node("a"),
        node("z"),
        node("e", "d"),
    ]
    graph = Graph.build(nodes)
    order = graph.order()
    assert sorted(order) == sorted(n.key for n in nodes)
    for n in nodes:
        assert all(order.index(dep) < order.index(n.key) for dep in n.depends_on), (n.key, order)
    assert order == ["a", "b", "c", "d", "e", "z"]  # stable: ready nodes in key order


def test_build_graph_dependents_invert_deps() -> None:
    graph = Graph.build([node(k, *deps) for k, deps in DIAMOND.items()])
    assert graph.deps == DIAMOND
    assert graph.dependents == {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}


@pytest.mark.parametrize(
    ("seconds", "total", "path"),
    [
        ({"a": 1, "b": 5, "c": 10, "d": 2}, 13, ["a", "c", "d"]),
        ({"a": 1, "b": 10, "c": 5, "d": 2}, 13, ["a", "b", "d"]),
        # Nodes with nothing to do take no time and are left out of the path.
        ({"a": 0, "b": 4, "c": 3, "d": 0}, 4, ["b"]),
    ],
)
def test_find_critical_path_diamond_longest_chain(seconds: dict[str, float], total: float, path: list[str]) -> None:
    assert critical_path(DIAMOND, seconds.__getitem__) == (total, path)


def test_find_critical_path_independent_chains_picks_the_longer() -> None:
    deps = {"vpc": set(), "subnet": {"vpc"}, "eks": {"subnet"}, "ecr": set()}
    seconds = {"vpc": 2, "subnet": 3, "eks": 600, "ecr": 700}
    assert critical_path(deps, seconds.__getitem__) == (700, ["ecr"])
    seconds["eks"] = 800
    assert critical_path(deps, seconds.__getitem__) == (805, ["vpc", "subnet", "eks"])


def test_find_critical_path_empty_graph_is_zero() -> None:
    assert critical_path({}, lambda key: 1.0) == (0.0, [])


def test_compute_kind_closure_transitive_dependents() -> None:
    graph = Graph.build(
        [
            node("net", kind=Net),
            node("sub-a", "net", kind=Sub),
            node("sub-b", "net", kind=Sub),
            node("nat", "sub-a", kind=Nat),
        ]
    )
    assert graph.kind_closure() == {Net: {Sub, Nat}, Sub: {Nat}, Nat: set()}


def test_compute_kind_closure_same_kind_dependency_excludes_itself() -> None:
    graph = Graph.build([node("a", kind=Net), node("b", "a", kind=Net), node("s", "b", kind=Sub)])
    assert graph.kind_closure() == {Net: {Sub}, Sub: set()}


def test_critical_path_breaks_ties_the_same_way_whatever_the_order() -> None:
    # Two environments as slow as each other: the path must not depend on dict or set order
    # (a plan of the estate printed `staging` in text and `prod` in JSON).
    seconds = {"organization": 1.0, "shared": 2.0, "dev": 3.0, "staging": 5.0, "prod": 5.0}
    forward = {
        "organization": set(),
        "shared": {"organization"},
        "dev": {"shared"},
        "staging": {"shared"},
        "prod": {"shared"},
    }
    backward = dict(reversed(list(forward.items())))
    assert critical_path(forward, seconds.__getitem__) == critical_path(backward, seconds.__getitem__)
    assert critical_path(forward, seconds.__getitem__) == (8.0, ["organization", "shared", "staging"])
