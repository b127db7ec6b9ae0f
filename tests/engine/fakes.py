"""In-memory resource kinds for testing the engine's own contract (no AWS, no mocks).

`FakeCloud` is the backing store: items with a type, fields and tags, ids handed out in
order, a log of every call, and per-(operation, key) hooks that run before a call to inject
faults, block or cancel. Like EC2, it refuses to delete an item another item still
references (`DependencyViolation`, a TemporaryError), so a wrong order shows up as a failure.

`Thing` and `Child` are kinds over it: `discover` reads only the plan's items (by the
ownership tags), `desired` takes dependency ids from refs, `create` / `update` /
`set_tags` / `delete` write. `FakeClock` advances time on `sleep` without sleeping.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

from provisioner.constants import TAG_KEY, TAG_PLAN, ownership_tags
from provisioner.engine import Live, Refs, Resource, RunContext, TemporaryError

PLAN = "t"
PLAN_TAGS = {"Team": "core"}
MUTATING = ("create", "update", "set_tags", "delete")


@dataclass
class Item:
    type: str
    fields: dict[str, Any]
    tags: dict[str, str]


class FakeCloud:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.calls: list[tuple[str, str]] = []
        self.hooks: dict[tuple[str, str], Callable[[], None]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- arranging and inspecting ------------------------------------------------------------
    def put(self, type_: str, fields: dict[str, Any], tags: dict[str, str]) -> str:
        """Store an item directly (what another run, a crash or a person left behind)."""
        with self._lock:
            id_ = f"{type_.split(':')[1]}-{next(self._ids)}"
            self.items[id_] = Item(type_, dict(fields), dict(tags))
        return id_

    def put_owned(self, type_: str, key: str, plan: str = PLAN, **fields: Any) -> str:
        return self.put(type_, fields, {**PLAN_TAGS, **ownership_tags(plan, key)})

    def keyed(self, type_: str, key: str) -> list[str]:
        """Ids of the items of a type that carry this logical key."""
        return [i for i, item in self.items.items() if item.type == type_ and item.tags.get(TAG_KEY) == key]

    def ops(self, operation: str) -> list[str]:
        """Keys the given operation was called for, in call order."""
        return [key for op, key in self.calls if op == operation]

    def mutations(self) -> list[tuple[str, str]]:
        return [(op, key) for op, key in self.calls if op in MUTATING]

    # -- the API the kinds call --------------------------------------------------------------
    def call(self, operation: str, key: str) -> None:
        with self._lock:
            self.calls.append((operation, key))
        hook = self.hooks.get((operation, key))
        if hook is not None:
            hook()

    def create(self, key: str, type_: str, fields: dict[str, Any], tags: dict[str, str]) -> str:
        self.call("create", key)
        return self.put(type_, fields, tags)

    def update(self, key: str, id_: str, fields: dict[str, Any]) -> None:
        self.call("update", key)
        with self._lock:
            self.items[id_].fields.update(fields)

    def set_tags(self, key: str, id_: str, tags: dict[str, str]) -> None:
        self.call("set_tags", key)
        with self._lock:
            self.items[id_].tags.update(tags)

    def delete(self, key: str, id_: str) -> None:
        self.call("delete", key)
        with self._lock:
            users = sorted(i for i, item in self.items.items() if id_ in item.fields.values())
            if users:
                raise TemporaryError(f"{id_} is in use by {', '.join(users)}", code="DependencyViolation")
            self.items.pop(id_, None)  # "not found" on delete is success


def fail_times(times: int, error: Exception) -> Callable[[], None]:
    """A hook that raises `error` on its first `times` calls, then lets the call through."""
    count = itertools.count()

    def hook() -> None:
        if next(count) < times:
            raise error

    return hook


@dataclass(kw_only=True)
class Thing(Resource):
    """`size` changes in place, `zone` forces a replace, `parent` names a node whose id this
    item references (and so must be deleted first)."""

    type: ClassVar[str] = "fake:thing"
    replace_on: ClassVar[frozenset[str]] = frozenset({"zone"})

    size: int = 1
    zone: str = "a"
    parent: str | None = None

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        cloud: FakeCloud = ctx.aws
        cloud.call("discover", cls.type)
        return [
            Live(key=item.tags[TAG_KEY], id=id_, fields=dict(item.fields), tags=dict(item.tags))
            for id_, item in list(cloud.items.items())
            if item.type == cls.type and item.tags.get(TAG_PLAN) == ctx.plan_name
        ]

    def desired(self, refs: Refs) -> dict[str, Any]:
        want: dict[str, Any] = {"size": self.size, "zone": self.zone}
        if self.parent:
            want["parent"] = refs.id(self.parent)
        return want

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        tags = ctx.tags_for(self)
        id_ = ctx.aws.create(self.key, self.type, want, tags)
        return Live(key=self.key, id=id_, fields=dict(want), tags=tags)

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        fields = {name: change["to"] for name, change in diff.items() if not name.startswith("tags.")}
        if fields:
            ctx.aws.update(self.key, have.id, fields)
            have.fields.update(fields)
        tag_diff = {name: change for name, change in diff.items() if name.startswith("tags.")}
        if tag_diff:
            have = super().update(ctx, want, have, tag_diff)  # the engine's shared tag update
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.set_tags(self.key, have.id, tags)

    def settle(self, ctx: RunContext, have: Live) -> Live:
        ctx.aws.call("settle", self.key)
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        ctx.aws.delete(have.key, have.id)


class Child(Thing):
    """A second kind, whose `parent` cannot change in place (like a subnet's VPC)."""

    type: ClassVar[str] = "fake:child"
    replace_on: ClassVar[frozenset[str]] = frozenset({"zone", "parent"})


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.time

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.time += seconds


@dataclass
class RecordingReporter:
    events: list[tuple[str, str | None, str]] = field(default_factory=list)

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        self.events.append((kind, key, message))

    def of(self, kind: str) -> list[tuple[str | None, str]]:
        return [(key, message) for k, key, message in self.events if k == kind]


def make_plan(name: str = PLAN) -> Any:
    """The little of a loaded plan that RunContext reads."""
    return SimpleNamespace(name=name, kind="environment", spec=SimpleNamespace(tags=dict(PLAN_TAGS)))
