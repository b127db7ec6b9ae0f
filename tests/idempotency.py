"""The four-phase idempotency check, reused for every kind (after amazon.aws's tests).

1. plan shows only creates for the nodes under test;
2. apply succeeds and a fresh plan shows only no-ops;
3. apply again makes no mutating AWS call;
4. destroy succeeds, and a fresh plan shows creates again (kinds destroy keeps by design,
   such as the account's permissions boundary, show no change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.aws.session import is_mutating
from provisioner.engine import Action, Resource, RunContext, Runner
from provisioner.engine.graph import Graph


def subgraph(nodes: list[Resource], keep: Callable[[Resource], bool]) -> list[Resource]:
    """The nodes selected by `keep`, plus everything they (transitively) depend on. Sweep
    nodes (destroy-only, sharing types like `ec2:security-group`) are never selected."""
    by_key = {n.key: n for n in nodes}
    wanted: set[str] = set()
    stack = [n.key for n in nodes if keep(n) and not n.sweep]
    while stack:
        key = stack.pop()
        if key not in wanted:
            wanted.add(key)
            stack.extend(by_key[key].depends_on)
    Graph.build(by_key[k] for k in wanted)  # sanity: closed under dependencies
    return [n for n in nodes if n.key in wanted]


def runner(plan: Any, session: Any, nodes: list[Resource]) -> Runner:
    return Runner(RunContext(plan=plan, aws=session), nodes)


def mutating_calls(session: Any) -> list[str]:
    return [op for op, count in session.calls.items() for _ in range(count) if is_mutating(op.split(":", 1)[1])]


def check_four_phases(plan: Any, make_session: Callable[[], Any], nodes: list[Resource]) -> None:
    keys = {n.key for n in nodes}
    data = {n.key for n in nodes if n.read_only}  # data sources: always no-ops

    first = runner(plan, make_session(), nodes).plan()
    assert {c.key for c in first.changes} == keys
    assert {c.action for c in first.changes if c.key not in data} == {Action.CREATE}, first.changes

    result = runner(plan, make_session(), nodes).apply()
    assert result.status == "ok", [r for r in result.results.values() if r.status != "done"]

    second = runner(plan, make_session(), nodes).plan()
    not_noop = [c for c in second.changes if c.action is not Action.NOOP]
    assert not not_noop, not_noop

    session = make_session()
    again = runner(plan, session, nodes).apply()
    assert again.status == "ok"
    assert mutating_calls(session) == [], "a converged apply must not write"

    destroyed = runner(plan, make_session(), nodes).destroy()
    assert destroyed.status == "ok", [r for r in destroyed.results.values() if r.status != "done"]
    third = runner(plan, make_session(), nodes).plan()
    kept = {n.key for n in nodes if n.kept_on_destroy}
    assert {c.action for c in third.changes if c.key not in data | kept} == (
        {Action.CREATE} if keys - data - kept else set()
    )
    assert {c.action for c in third.changes if c.key in kept} <= {Action.NOOP}
