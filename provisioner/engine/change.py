"""Changes and change sets: what plan prints and apply executes.

A `Change` is one node's verdict: create, update, replace, delete or no-op, with the fields
that differ (`diff`: field -> {"from": live, "to": wanted}). Values that will only be known
after a dependency is created show as `Pending` ("<pending ec2:vpc network/vpc>").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def verb(self) -> tuple[str, str]:
        """(would-form, past-form) for rendering: ("would create", "created")."""
        past = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted", "noop": "unchanged"}
        return (f"would {self.value}" if self is not Action.NOOP else "no change", past[self.value])


@dataclass(frozen=True)
class Pending:
    """A value that exists only once a dependency has been created."""

    type: str
    key: str
    attribute: str = "id"

    def __str__(self) -> str:
        return f"<pending {self.type} {self.key}>"

    def __repr__(self) -> str:
        return str(self)


def jsonable(value: Any) -> Any:
    if isinstance(value, Pending):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return value


@dataclass
class Change:
    key: str
    type: str
    action: Action
    diff: dict[str, dict[str, Any]] = field(default_factory=dict)
    id: str | None = None
    reason: str | None = None
    # What plan reports about a resource without it being a change (e.g. a database's
    # pending maintenance, backup replication status).
    info: dict[str, Any] = field(default_factory=dict)
    # A replacement or deletion a protected plan refuses unless named (`--allow-replace
    # KEY`): why (`Resource.guard_reason`), and the keys of what depends on it.
    guard: str | None = None
    dependents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "type": self.type, "action": self.action.value, "diff": jsonable(self.diff)}
        if self.id:
            out["id"] = self.id
        if self.reason:
            out["reason"] = self.reason
        if self.info:
            out["info"] = jsonable(self.info)
        if self.guard:
            out["guard"] = self.guard
            out["dependents"] = list(self.dependents)
        return out


@dataclass
class ChangeSet:
    plan: str
    changes: list[Change] = field(default_factory=list)
    # What a destroy cannot delete as things stand (`Resource.destroy_blockers`), one line each.
    blockers: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    def by_key(self) -> dict[str, Change]:
        return {c.key: c for c in self.changes}
