"""Changes and change sets: what plan prints and apply executes.

A `Change` is one node's verdict: create, update, replace, delete or no-op, with the fields
that differ (`diff`: field -> {"from": live, "to": wanted}). Values that will only be known
after a dependency is created show as `Pending` ("<pending ec2:vpc network/vpc>").

The diff keeps whole values (JSON output shows them in full); `changed_paths` finds what
changed inside a nested one, which the text output prints path by path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# A diff names a tag change `tags.<key>` (engine/tags.py makes them); every other name is a
# field of the kind. Kinds ask these two helpers instead of spelling the prefix out.
TAG_FIELD_PREFIX = "tags."


def tag_field(key: str) -> str:
    """The diff entry of tag `key`."""
    return f"{TAG_FIELD_PREFIX}{key}"


def tags_changed(diff: Mapping[str, Any]) -> bool:
    """Whether a diff changes (sets or removes) any tag."""
    return any(name.startswith(TAG_FIELD_PREFIX) for name in diff)


def field_changes(diff: Mapping[str, Any]) -> set[str]:
    """The names of the fields a diff changes, tags left out."""
    return {name for name in diff if not name.startswith(TAG_FIELD_PREFIX)}


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def verb(self) -> tuple[str, str]:
        """(would-form, past-form) for rendering: ("would create", "created")."""
        past = {
            "create": "created",
            "update": "updated",
            "replace": "replaced",
            "delete": "deleted",
            "noop": "unchanged",
        }
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


ABSENT: Any = None  # how a path missing on one side shows


def _nested(value: Any) -> Any:
    """A value to walk into: dicts and lists, and JSON documents held as strings (policies)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (tuple, frozenset, set)):
        return jsonable(value)
    return value


def _step(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    text = str(key)
    return f".{text}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) else f"[{json.dumps(text)}]"


def changed_paths(field: str, before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """The paths that differ inside a nested value (a policy, a manifest, a map of tags),
    as (path, before, after): `policy.Statement[3].Action`. Lists compare position by
    position when they hold objects (a list of scalars, such as an Action list, is one value);
    a path present on one side only has None on the other. A scalar field, or one side
    missing altogether, is the field itself."""
    old, new = _nested(before), _nested(after)
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old:
                out.append((field + _step(key), ABSENT, new[key]))
            elif key not in new:
                out.append((field + _step(key), old[key], ABSENT))
            elif old[key] != new[key]:
                out += changed_paths(field + _step(key), old[key], new[key])
        return out or [(field, before, after)]
    both_lists = isinstance(old, list) and isinstance(new, list)
    structured = both_lists and all(isinstance(item, (dict, list)) for item in [*old, *new])
    if structured and old and new:  # a list of objects (statements, containers): item by item
        out = []
        for index in range(max(len(old), len(new))):
            if index >= len(old):
                out.append((f"{field}[{index}]", ABSENT, new[index]))
            elif index >= len(new):
                out.append((f"{field}[{index}]", old[index], ABSENT))
            elif old[index] != new[index]:
                out += changed_paths(f"{field}[{index}]", old[index], new[index])
        return out or [(field, before, after)]
    return [(field, before, after)]


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
        out: dict[str, Any] = {
            "key": self.key,
            "type": self.type,
            "action": self.action.value,
            "diff": jsonable(self.diff),
        }
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
