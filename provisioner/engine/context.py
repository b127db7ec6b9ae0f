"""What a node sees while it runs: the plan, clients, refs, discovery cache and reporting.

The engine knows AWS only as the opaque `aws` object (a session factory from aws/), so this
package stays free of boto3 (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from provisioner.constants import ownership_tags
from provisioner.engine.errors import Interrupted
from provisioner.engine.resource import Live, Refs
from provisioner.engine.tags import with_record

if TYPE_CHECKING:
    from provisioner.engine.resource import Resource
    from provisioner.planfile import Plan

# The node a thread is working for, so API-call hooks can journal calls under their key.
current_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_key", default=None)


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def __init__(self, cancel: threading.Event | None = None):
        self._cancel = cancel

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._cancel is not None:
            if self._cancel.wait(seconds):
                raise Interrupted("interrupted while waiting")
        else:
            time.sleep(seconds)


class Reporter(Protocol):
    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None: ...


class NullReporter:
    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        return None


@dataclass
class RunContext:
    plan: Plan
    aws: Any
    reporter: Reporter = field(default_factory=NullReporter)
    journal: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    clock: Clock | None = None
    refs: Refs = field(default_factory=Refs)
    dry_run: bool = True
    # Set by the CLI once a protected plan's destroy was confirmed (name typed back); kinds
    # that guard data (RDS deletion protection) lift their guard only then.
    allow_protected: bool = False
    # `apply --apply-immediately`: disruptive database changes now, not in the maintenance window.
    apply_immediately: bool = False
    # Factor on the waiters' poll delays (aws/waiters.py). 1 on real AWS; a sandbox whose
    # simulated operations take p50 x SCALE seconds is polled on a schedule shrunk alike, or
    # every wait would overshoot by a whole 1-5 s poll. None: the session's `poll_scale`
    # (set by the CLI for `--sandbox`; a member-account session inherits its management's).
    poll_scale: float | None = None
    # The keys whose resources this run deletes or replaces: in an apply, what the plan
    # deletes; None in a destroy (everything the plan owns goes). A deletion refused because
    # a plan resource still uses the thing waits only for resources that are leaving.
    leaving: set[str] | None = None

    def __post_init__(self) -> None:
        if self.clock is None:
            self.clock = SystemClock(self.cancel)
        if self.poll_scale is None:
            sessions = (self.aws, getattr(self.aws, "management", None))
            scales = (getattr(s, "poll_scale", None) for s in sessions)
            scale = next((s for s in scales if isinstance(s, (int, float))), 1.0)
            self.poll_scale = float(scale)
        self._live: dict[type, list[Live]] = {}
        self._live_lock = threading.Lock()
        self._kind_locks: dict[type, threading.Lock] = {}
        self.memo: dict[Any, Any] = {}
        # The graph's nodes, for kinds whose resources are found by name rather than by tag.
        self.nodes: dict[str, Resource] = {}
        self._memo_lock = threading.Lock()

    @property
    def plan_name(self) -> str:
        return self.plan.name

    @property
    def region(self) -> str | None:
        return getattr(self.aws, "region", None)

    @property
    def regions(self) -> list[str]:
        """The regions this plan has resources in: its region, then its DR region if any."""
        regions = [r for r in (self.region, getattr(self.plan.spec, "dr_region", None)) if r]
        return list(dict.fromkeys(regions))

    def plan_refs(self) -> dict[str, Any]:
        """Facts about the run that `desired()` may use, published as the `@plan` ref."""
        facts: dict[str, Any] = {"name": self.plan.name, "region": self.region}
        dr_region = getattr(self.plan.spec, "dr_region", None)  # environment plans only
        if dr_region:
            facts["dr_region"] = dr_region
        for fact in ("account_id", "caller_arn", "partition"):
            value = getattr(self.aws, fact, None)
            if value:
                facts[fact] = value
        return facts

    def tags_for(self, resource: Resource) -> dict[str, str]:
        """Plan tags, then the node's own, then ownership tags (which nothing may override);
        with the record of the keys set, for kinds that can remove tags (engine/tags.py)."""
        tags = dict(self.plan.spec.tags)
        tags.update(resource.tags)
        tags.update(ownership_tags(self.plan.name, resource.key))
        return with_record(resource, tags)

    def live(self, kind: type[Resource]) -> list[Live]:
        """Discovery results for a kind, read once per run (one batched describe per kind)."""
        with self._live_lock:
            lock = self._kind_locks.setdefault(kind, threading.Lock())
        with lock:
            if kind not in self._live:
                self._live[kind] = kind.discover(self)
            return self._live[kind]

    def rediscover(self, kind: type[Resource]) -> list[Live]:
        """Read a kind again, replacing what discovery found earlier in the run (after a
        resource it depends on was replaced, the earlier read describes the old one)."""
        with self._live_lock:
            lock = self._kind_locks.setdefault(kind, threading.Lock())
        with lock:
            self._live[kind] = kind.discover(self)
            return self._live[kind]

    def remember(self, kind: type[Resource], live: Live, replaces: Live | None = None) -> None:
        """Record a resource made in this run in the kind's discovery results, so kinds whose
        discovery goes through it (node groups through their cluster) see the new one."""
        with self._live_lock:
            lock = self._kind_locks.setdefault(kind, threading.Lock())
        with lock:
            if kind not in self._live:
                return
            gone = {id(replaces)} if replaces is not None else set()
            kept = [
                other
                for other in self._live[kind]
                if id(other) not in gone and not (other.key == live.key and other.id == live.id)
            ]
            self._live[kind] = [live, *kept]

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Memoise a read shared by several kinds (e.g. one DescribeRouteTables)."""
        with self._memo_lock:
            lock = self._kind_locks.setdefault(("memo", key), threading.Lock())  # type: ignore[arg-type]
        with lock:
            if key not in self.memo:
                self.memo[key] = compute()
            return self.memo[key]

    def forget(self) -> None:
        """Drop discovery results (after apply, before a re-plan)."""
        with self._live_lock:
            self._live.clear()
        with self._memo_lock:
            self.memo.clear()

    def progress(self, key: str | None, message: str, **data: Any) -> None:
        self.reporter.event("progress", key, message, **data)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Interrupted("interrupted")
