"""The dependency graph of a plan's nodes: validation, order, reversal and critical path.

Dependencies are explicit data on each node (`depends_on`), never inferred. The graph
checks that every dependency exists and that there is no cycle, and answers the two
questions the runner and the estimate ask: what can run now, and which chain of nodes
bounds the wall time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from provisioner.engine.errors import PermanentError
from provisioner.engine.resource import Resource


@dataclass
class Graph:
    nodes: dict[str, Resource]
    # key -> keys it waits for; key -> keys waiting for it
    deps: dict[str, set[str]]
    dependents: dict[str, set[str]]

    @classmethod
    def build(cls, resources: Iterable[Resource]) -> Graph:
        nodes: dict[str, Resource] = {}
        for resource in resources:
            if resource.key in nodes:
                raise PermanentError(f"two nodes share the key {resource.key}", key=resource.key)
            nodes[resource.key] = resource
        deps = {key: set(node.depends_on) for key, node in nodes.items()}
        for key, node in nodes.items():
            missing = (deps[key] | set(node.destroy_after)) - nodes.keys()
            if missing:
                raise PermanentError(f"depends on unknown node(s) {', '.join(sorted(missing))}", key=key)
        graph = cls(nodes, deps, _invert(deps))
        graph.order()  # raises on a cycle
        topological_order(graph.teardown_deps(), "in a destroy")  # and so does a destroy-only edge
        return graph

    def teardown_deps(self) -> dict[str, set[str]]:
        """What each node waits for in a destroy: its dependents (deleted first) and its
        `destroy_after` keys."""
        return {key: set(self.dependents[key]) | set(node.destroy_after) for key, node in self.nodes.items()}

    def ancestors(self, key: str) -> frozenset[str]:
        """Every key `key` waits for, directly or through others."""
        return frozenset(_reach(self.deps, key))

    def descendants(self, key: str) -> set[str]:
        """Every key that waits for `key`, directly or through others."""
        return _reach(self.dependents, key)

    def order(self) -> list[str]:
        """Keys in dependency order (Kahn's algorithm, ties by key for stable output)."""
        return topological_order(self.deps)

    def kind_closure(self) -> dict[type[Resource], set[type[Resource]]]:
        """For each kind, the kinds that (transitively) depend on it.

        Used to order deletions of orphans (live resources no node stands for): an orphan
        subnet goes after every NAT gateway and route table, whatever their keys.
        """
        direct: dict[type[Resource], set[type[Resource]]] = {}
        for key, wanted in self.deps.items():
            kind = type(self.nodes[key])
            direct.setdefault(kind, set())
            for dep in wanted:
                direct.setdefault(type(self.nodes[dep]), set()).add(kind)
        closure: dict[type[Resource], set[type[Resource]]] = {}
        for kind in direct:
            seen: set[type[Resource]] = set()
            stack = list(direct[kind])
            while stack:
                k = stack.pop()
                if k not in seen:
                    seen.add(k)
                    stack.extend(direct.get(k, ()))
            seen.discard(kind)
            closure[kind] = seen
        return closure


def topological_order(deps: dict[str, set[str]], where: str = "") -> list[str]:
    remaining = {k: len(v) for k, v in deps.items()}
    dependents = _invert(deps)
    ready = sorted(k for k, n in remaining.items() if n == 0)
    out: list[str] = []
    while ready:
        key = ready.pop(0)
        out.append(key)
        for child in sorted(dependents[key]):
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
        ready.sort()
    if len(out) != len(deps):
        stuck = sorted(k for k, n in remaining.items() if n > 0)
        raise PermanentError(f"dependency cycle{' ' + where if where else ''} among {', '.join(stuck)}")
    return out


def _reach(edges: dict[str, set[str]], key: str) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(key, ()))
    while stack:
        other = stack.pop()
        if other not in seen:
            seen.add(other)
            stack.extend(edges.get(other, ()))
    return seen


def _invert(deps: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in deps}
    for key, wanted in deps.items():
        for dep in wanted:
            out[dep].add(key)
    return out


def critical_path(deps: dict[str, set[str]], seconds: Callable[[str], float]) -> tuple[float, list[str]]:
    """The longest chain by summed duration: the lower bound on wall time with enough workers."""
    finish: dict[str, float] = {}
    best_parent: dict[str, str | None] = {}
    remaining = {k: set(v) for k, v in deps.items()}
    dependents = _invert(deps)
    ready = [k for k, v in remaining.items() if not v]
    while ready:
        key = ready.pop()
        # Ties go to the greatest name: the same path whatever order sets iterate in.
        parent = max(deps[key], key=lambda d: (finish[d], d), default=None)
        finish[key] = (finish[parent] if parent else 0.0) + seconds(key)
        best_parent[key] = parent
        for child in dependents[key]:
            remaining[child].discard(key)
            if not remaining[child]:
                ready.append(child)
    if not finish:
        return 0.0, []
    end = max(finish, key=lambda k: (finish[k], k))
    path: list[str] = []
    node: str | None = end
    while node is not None:
        path.append(node)
        node = best_parent[node]
    path.reverse()
    path = [k for k in path if seconds(k) > 0] or path[-1:]
    return finish[end], path
