"""The engine's one diff: a node's desired fields and managed tags against its live record."""

from __future__ import annotations

from typing import Any

from provisioner.engine.change import Action, Change, Pending
from provisioner.engine.context import RunContext
from provisioner.engine.resource import Live, Resource
from provisioner.engine.tags import tag_diff


def _equal(have: Any, want: Any) -> bool:
    if isinstance(want, Pending) or isinstance(have, Pending):
        return False
    return bool(have == want)


def diff_node(ctx: RunContext, node: Resource, want: dict[str, Any], have: Live | None) -> Change:
    """The engine's one diff: desired fields and managed tags against the live record."""
    if have is None:
        return Change(node.key, node.type, Action.CREATE)
    diff: dict[str, dict[str, Any]] = {}
    for name, value in want.items():
        current = have.fields.get(name)
        if not _equal(current, value):
            diff[name] = {"from": current, "to": value}
    if node.taggable:
        # Only tags we manage are compared, and only keys we set are removed: tags others add
        # (AWS, controllers, people) stay (engine/tags.py).
        diff.update(tag_diff(node, ctx.tags_for(node), have.tags))
    reason = None
    if not diff:
        action = Action.NOOP
    elif node.needs_replacement(set(diff), have):
        action, reason = Action.REPLACE, node.replace_reason(set(diff), have)
    else:
        action = Action.UPDATE
    return Change(node.key, node.type, action, diff, id=have.id, reason=reason)
