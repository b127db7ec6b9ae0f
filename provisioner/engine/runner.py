"""Runs a plan's graph: plan (dry run), apply and destroy on one code path.

1. Discovery: every kind's `discover` runs once, concurrently (one batched describe each).
2. Plan: nodes are walked in dependency order; each computes `desired(refs)` and compares it
   with what discovery found, giving a `Change`. Live resources carrying the plan's tags but
   no node's key (a removed AZ, a duplicate left by a crash) become `delete` changes.
3. Apply executes the same per-node function with `dry_run` off, as a graph: a node starts as
   soon as its dependencies are done, on a bounded pool of workers. Destroy walks the
   reversed graph.

Replacements (SPEC section 11). Each says why (`Resource.replace_reason`). A replaced node's
old resource is deleted before the new one is made, dependents' old resources first, unless
its kind is `create_before_destroy` (a node group): then the new one is made beside the old,
and the old is deleted once the new one is ready (a `#retire` task). What lives inside a
replaced resource (`Resource.container`: a node group, an add-on, a Kubernetes object in a
cluster) is planned as replaced too, never as unchanged because it existed in the old one;
in apply, a node any of whose ancestors was replaced earlier in the run reads its kind again
before comparing, so one apply converges. Replacing or deleting a guarded resource (a
cluster, a database, a VPC, a KMS key, a subnet holding network interfaces) is marked on the
change with what depends on it; `refused(allowed)` lists those a protected plan must not do
unless named.

Failures: a `TemporaryError` is retried after its delay within the node's budget; any other
error fails the node, its dependents are skipped, and independent branches run to the end.
The first Ctrl-C stops new work and lets in-flight nodes stop at their next wait; the second
one is not caught. This module decides the tasks; execution.py runs them, diff.py compares.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from provisioner.engine.change import Action, Change, ChangeSet
from provisioner.engine.context import RunContext, current_key
from provisioner.engine.diff import diff_node
from provisioner.engine.errors import PermanentError, ProvisionerError
from provisioner.engine.execution import DEFAULT_WORKERS, RunResult, Task, execute
from provisioner.engine.graph import Graph, critical_path, topological_order
from provisioner.engine.resource import Live, Resource
from provisioner.engine.tags import remove_stale


class Runner:
    def __init__(self, ctx: RunContext, resources: list[Resource], workers: int = DEFAULT_WORKERS):
        self.ctx = ctx
        self.graph = Graph.build(resources)
        ctx.refs.set("@plan", "plan", ctx.plan_refs())
        ctx.nodes = dict(self.graph.nodes)
        self.workers = workers
        self._planned: dict[str, Change] = {}
        self._orphans: list[tuple[type[Resource], Live]] = []
        # Nodes being replaced whose old resource was already deleted by a "#delete" task.
        self._predeleted: set[str] = set()
        # Keys planned as replaced (containers first: their contents follow them).
        self._renewed: set[str] = set()
        # Apply: keys whose replacement is done; per kind, the replacements its discovery
        # already reflects; old resources of create-before-destroy nodes, deleted last.
        self._replaced_done: set[str] = set()
        self._fresh: dict[type[Resource], frozenset[str]] = {}
        self._retiring: dict[str, Live] = {}
        self._state_lock = threading.Lock()

    # ------------------------------------------------------------------------------ discovery
    def kinds(self, destroy: bool = False) -> list[type[Resource]]:
        """The kinds discovery reads: sweep kinds only for a destroy."""
        seen: dict[type[Resource], None] = {}
        for node in self.graph.nodes.values():
            if not node.read_only and (destroy or not node.sweep):
                seen.setdefault(type(node), None)
        return list(seen)

    def discover(self, destroy: bool = False) -> None:
        """Read every kind once, concurrently; errors surface as they would in a node."""
        kinds = self.kinds(destroy)
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(kinds)))) as pool:
            futures = [pool.submit(self._discover_kind, kind) for kind in kinds]
            for future in futures:
                future.result()
        self._orphans = []
        for kind in kinds:
            if kind.sweep:  # a sweep node stands for everything its kind finds
                continue
            claimed: set[str] = set()
            for live in self.ctx.live(kind):
                node = self.graph.nodes.get(live.key)
                if node is None or type(node) is not kind or live.key in claimed:
                    self._orphans.append((kind, live))
                else:
                    claimed.add(live.key)

    def _discover_kind(self, kind: type[Resource]) -> None:
        token = current_key.set(f"discover:{kind.type}")
        try:
            with _located(f"discovering {kind.type}"):
                self.ctx.live(kind)
        finally:
            current_key.reset(token)

    def _live_for(self, node: Resource) -> Live | None:
        if node.read_only:
            return None
        for live in self.ctx.live(type(node)):
            if live.key == node.key:
                return live
        return None

    # ----------------------------------------------------------------------------------- plan
    def plan(self, destroy: bool = False) -> ChangeSet:
        """Compute the change set without writing anything (the dry run of apply/destroy)."""
        self.ctx.dry_run = True
        self.discover(destroy)
        changes: list[Change] = []
        self._blockers: list[str] = []
        if destroy:
            for key in topological_order(self.graph.teardown_deps()):
                node = self.graph.nodes[key]
                if node.sweep:
                    changes += [
                        Change(
                            f"{key}#{live.id}", node.type, Action.DELETE, id=live.id, reason=live.fields.get("reason")
                        )
                        for live in self.ctx.live(type(node))
                    ]
                    continue
                live = self._live_for(node)
                kept = type(node).kept_reason(self.ctx, live) if live is not None else None
                if live is not None and not kept:
                    try:
                        self._blockers += [f"{key}: {line}" for line in type(node).destroy_blockers(self.ctx, live)]
                    except Exception as exc:
                        self._blockers.append(f"{key}: could not check what blocks it ({type(exc).__name__}: {exc})")
                action = Action.DELETE if live and not kept else Action.NOOP
                reason = f"kept: {kept}" if kept else (None if live or node.read_only else "absent: nothing to delete")
                changes.append(Change(key, node.type, action, id=live.id if live else None, reason=reason))
        else:
            self._renewed = set()
            for key in self.graph.order():
                if not self.graph.nodes[key].sweep:
                    with _located(key):
                        change = self._converge(self.graph.nodes[key])
                        if change.action is Action.REPLACE:
                            self._renewed.add(key)
                        changes.append(change)
        # What each node is expected to do; orphans (possibly sharing a node's key, when a crash
        # left a duplicate) are tracked separately and must not overwrite a node's verdict.
        self._planned = {c.key: c for c in changes}
        self._orphan_planned: list[Change] = []
        for kind, live in self._orphans:
            duplicate = live.key in self.graph.nodes
            reason = "duplicate of a resource with the same key" if duplicate else "no longer in the plan"
            self._orphan_planned.append(Change(live.key, kind.type, Action.DELETE, id=live.id, reason=reason))
        changes += self._orphan_planned
        if not destroy:
            self._mark_guarded(changes)
        return ChangeSet(self.ctx.plan_name, changes, blockers=self._blockers)

    def _mark_guarded(self, changes: list[Change]) -> None:
        """Mark replacements and deletions of guarded resources with why and what depends on them."""
        orphans = {(live.key, live.id): (kind, live) for kind, live in self._orphans}
        live: Live | None
        for change in changes:
            if change.action not in (Action.REPLACE, Action.DELETE):
                continue
            node = self.graph.nodes.get(change.key)
            found = orphans.get((change.key, change.id or "")) if change.action is Action.DELETE else None
            if found is not None:
                kind, live = found
                dependents: list[str] = []
            elif node is not None and not node.read_only:
                kind, live = type(node), self._live_for(node)
                # Direct dependents first, then what depends on them; destroy-only sweeps never.
                below = {k for k in self.graph.descendants(change.key) if not self.graph.nodes[k].sweep}
                direct = below & self.graph.dependents[change.key]
                dependents = sorted(direct) + sorted(below - direct)
            else:
                continue
            if live is None:
                continue
            with _located(change.key):
                reason = kind.guard_reason(self.ctx, live)
            if reason:
                change.guard, change.dependents = reason, dependents

    def refused(self, allowed: set[str] | frozenset[str] = frozenset()) -> list[Change]:
        """Guarded replacements and deletions in the last plan that `allowed` does not name:
        what a protected plan must refuse before any change (SPEC section 11)."""
        changes = list(self._planned.values()) + list(getattr(self, "_orphan_planned", []))
        return [c for c in changes if c.guard and c.key not in allowed]

    def estimate(self, changeset: ChangeSet, destroy: bool = False) -> dict[str, Any]:
        """Apply time estimate from the latency model (p50 per kind) and the graph."""
        actions = {c.key: c.action for c in changeset.changes}
        for change in changeset.changes:  # a sweep's leftovers are listed as `<node>#<id>`
            node_key = change.key.split("#", 1)[0]
            if node_key in self.graph.nodes and self.graph.nodes[node_key].sweep:
                actions[node_key] = change.action

        def seconds(key: str) -> float:
            node = self.graph.nodes[key]
            action = actions.get(key, Action.NOOP)
            if action is Action.CREATE:
                return node.create_seconds
            if action is Action.DELETE:
                return node.delete_seconds
            if action is Action.REPLACE:
                return node.create_seconds + node.delete_seconds
            if action is Action.UPDATE:
                return min(node.create_seconds, 5.0)
            return 0.0

        deps = self.graph.teardown_deps() if destroy else self.graph.deps
        total, path = critical_path(deps, seconds)
        serial = sum(seconds(k) for k in self.graph.nodes)
        return {"seconds": round(total), "critical_path": path if total else [], "serial_seconds": round(serial)}

    def _converge(self, node: Resource) -> Change:
        """Compare one node with what exists; with dry_run off, make it so. Shared by plan and apply."""
        ctx = self.ctx
        live: Live | None
        if node.read_only:
            data = node.read(ctx)
            ctx.refs.set(node.key, node.type, node.outputs(data))
            return Change(node.key, node.type, Action.NOOP, id=data.id)
        want = node.desired(ctx.refs)
        if node.key in self._predeleted:
            live = node.create(ctx, want)
            ctx.refs.set(node.key, node.type, node.outputs(live))
            self._replaced(node, live, None)
            planned = self._planned.get(node.key)
            return Change(
                node.key,
                node.type,
                Action.REPLACE,
                planned.diff if planned else {},
                id=live.id,
                reason=planned.reason if planned else None,
            )
        have = self._current(node)
        if have is not None:
            want = node.fit(ctx.refs, want, have)
        change = diff_node(ctx, node, want, have)
        container = node.container()
        if have is not None and container in self._renewed:
            # It lives in a resource being replaced: the new container will not hold it.
            change.action = Action.REPLACE
            change.reason = f"it lives in {container}, which is replaced"
        if have is not None:
            change.info = node.report(have)
        if ctx.dry_run:
            if have is not None and change.action is not Action.REPLACE:
                ctx.refs.set(node.key, node.type, node.outputs(have))
            else:
                ctx.refs.set_pending(node.key, node.type)
            return change
        live = have
        if change.action is Action.NOOP:
            assert have is not None
            live = node.settle(ctx, have)
        elif change.action is Action.CREATE:
            live = node.create(ctx, want)
            ctx.remember(type(node), live)
        elif change.action is Action.UPDATE:
            assert have is not None
            live = node.update(ctx, want, have, change.diff)
            remove_stale(ctx, node, live, change.diff)
            live = node.settle(ctx, live)
        elif change.action is Action.REPLACE:
            assert have is not None
            if self._beside(node):
                live = node.create_replacement(ctx, want, have)
                with self._state_lock:
                    self._retiring[node.key] = have
            else:
                type(node).delete(ctx, have)
                live = node.create(ctx, want)
            self._replaced(node, live, have)
        assert live is not None
        if live.id:
            change.id = live.id
        ctx.refs.set(node.key, node.type, node.outputs(live))
        return change

    def _beside(self, node: Resource) -> bool:
        """Whether a replacement of `node` is made beside the old resource (see the module
        docstring): its kind allows two at once, and its container is not being replaced."""
        return node.create_before_destroy and node.container() not in self._renewed

    def _replaced(self, node: Resource, live: Live, old: Live | None) -> None:
        self.ctx.remember(type(node), live, replaces=None if self._beside(node) else old)
        with self._state_lock:
            self._replaced_done.add(node.key)

    def _current(self, node: Resource) -> Live | None:
        """What exists for `node` now. In apply, once a resource it (transitively) depends on
        was replaced in this run, its kind is read again: the earlier read saw the old world."""
        if self.ctx.dry_run or node.read_only:
            return self._live_for(node)
        with self._state_lock:
            replaced = self.graph.ancestors(node.key) & self._replaced_done
            known = self._fresh.get(type(node), frozenset())
            snapshot = frozenset(self._replaced_done)
        if replaced and not replaced <= known:
            self.ctx.progress(node.key, f"reading {node.type} again after {', '.join(sorted(replaced))} was replaced")
            self.ctx.rediscover(type(node))
            with self._state_lock:
                self._fresh[type(node)] = self._fresh.get(type(node), frozenset()) | snapshot
        return self._live_for(node)

    # ---------------------------------------------------------------------------------- apply
    def apply(self) -> RunResult:
        """Converge every node, then delete orphans. Call `plan()` first (apply shows it)."""
        if not self._planned:
            self.plan()
        self.ctx.dry_run = False
        self.ctx.leaving = {k for k, c in self._planned.items() if c.action in (Action.REPLACE, Action.DELETE)}
        self.ctx.leaving |= {live.key for _, live in self._orphans}
        tasks: dict[str, Task] = {}
        for key, node in self.graph.nodes.items():
            if node.sweep:  # nothing depends on a sweep node: it exists for destroy only
                continue
            planned = self._planned.get(key)
            tasks[key] = Task(
                key,
                node.type,
                set(self.graph.deps[key]),
                partial(self._converge, node),
                planned.action if planned else Action.NOOP,
            )
        self._add_replace_deletions(tasks)
        self._add_orphan_tasks(tasks, destroy=False)
        return execute(self.ctx, "apply", tasks, self.workers)

    def _add_replace_deletions(self, tasks: dict[str, Task]) -> None:
        """A replaced node's old resource is deleted before it is created again, and after the
        old resources of everything below it that is replaced too (a node group before its
        cluster, a subnet before its VPC): the deletions walk the reversed graph, the creates
        the graph. A create-before-destroy node instead deletes its old resource in a
        `#retire` task after the new one is ready; nothing waits for that task."""
        replaced = {k for k, c in self._planned.items() if c.action is Action.REPLACE}
        beside = {k for k in replaced if self._beside(self.graph.nodes[k])}
        for key in replaced - beside:
            node = self.graph.nodes[key]
            live = self._live_for(node)
            delete_key = f"{key}#delete"
            deps = {f"{d}#delete" for d in self.graph.descendants(key) if d in replaced - beside}
            tasks[delete_key] = Task(delete_key, node.type, deps, partial(self._predelete, node, live), Action.DELETE)
            tasks[key].deps.add(delete_key)
        for key in beside:
            node = self.graph.nodes[key]
            retire_key = f"{key}#retire"
            tasks[retire_key] = Task(retire_key, node.type, {key}, partial(self._retire, node), Action.DELETE)

    def _retire(self, node: Resource) -> None:
        with self._state_lock:
            old = self._retiring.pop(node.key, None)
        if old is not None:
            self.ctx.progress(node.key, f"deleting the replaced {node.type} {old.id}")
            type(node).delete(self.ctx, old)

    def _predelete(self, node: Resource, live: Live | None) -> None:
        if live is not None:
            type(node).delete(self.ctx, live)
        self._predeleted.add(node.key)

    def destroy(self) -> RunResult:
        """Delete everything the plan owns, dependents first."""
        if not self._planned:
            self.plan(destroy=True)
        self.ctx.dry_run = False
        self.ctx.leaving = None  # everything the plan owns goes
        tasks: dict[str, Task] = {}
        teardown = self.graph.teardown_deps()
        for key, node in self.graph.nodes.items():
            if node.sweep:
                found = bool(self.ctx.live(type(node)))
                tasks[key] = Task(
                    key,
                    node.type,
                    teardown[key],
                    partial(self._sweep, node),
                    Action.DELETE if found else Action.NOOP,
                )
                continue
            live = None if node.kept_on_destroy else self._live_for(node)
            tasks[key] = Task(
                key,
                node.type,
                teardown[key],
                partial(self._delete, type(node), live, node.key),
                Action.DELETE if live else Action.NOOP,
            )
        self._add_orphan_tasks(tasks, destroy=True)
        return execute(self.ctx, "destroy", tasks, self.workers)

    def _sweep(self, node: Resource) -> Change:
        """Delete everything a sweep kind finds now (read again: what the planned list held
        may be gone, and controllers may have made more until the cluster went)."""
        kind = type(node)
        found = kind.discover(self.ctx)
        if not found:
            return Change(node.key, node.type, Action.NOOP)
        kind.delete_all(self.ctx, found)
        return Change(node.key, node.type, Action.DELETE, id=", ".join(live.id for live in found))

    def _delete(self, kind: type[Resource], live: Live | None, key: str) -> Change:
        if live is None:
            return Change(key, kind.type, Action.NOOP)
        kind.delete(self.ctx, live)
        planned = self._planned.get(key)
        if planned is not None and (planned.reason or "").startswith("kept: "):  # released, not deleted
            return Change(key, kind.type, Action.NOOP, id=live.id, reason=planned.reason)
        return Change(key, kind.type, Action.DELETE, id=live.id)

    def _add_orphan_tasks(self, tasks: dict[str, Task], destroy: bool) -> None:
        closure = self.graph.kind_closure()
        node_kind = {key: type(node) for key, node in self.graph.nodes.items()}
        orphan_keys: list[tuple[str, type[Resource]]] = []
        for kind, live in self._orphans:
            task_key = f"{live.key}#{live.id}" if live.key in tasks else live.key
            tasks[task_key] = Task(
                task_key, kind.type, set(), partial(self._delete, kind, live, live.key), Action.DELETE
            )
            orphan_keys.append((task_key, kind))

        def mutual(a: type[Resource], b: type[Resource]) -> bool:
            return a in closure.get(b, set()) and b in closure.get(a, set())

        for task_key, kind in orphan_keys:
            # Kinds that depend on each other somewhere in the graph give no order between
            # them; waiting on each other would deadlock, so they are not ordered.
            later = {k for k in closure.get(kind, set()) if not mutual(k, kind)}
            # An orphan goes after everything of the kinds that depend on its kind...
            tasks[task_key].deps |= {
                k for k, t in tasks.items() if k != task_key and _kind_of(k, node_kind, orphan_keys) in later
            }
            if destroy:
                # ...and, in a destroy, before what its kind depends on.
                for key, other in node_kind.items():
                    if kind in closure.get(other, set()) and not mutual(kind, other):
                        tasks[key].deps.add(task_key)


@contextlib.contextmanager
def _located(where: str) -> Iterator[None]:
    """Planning reads AWS too: name the node (or kind) in any error it raises."""
    try:
        yield
    except ProvisionerError as exc:
        if exc.key is None:
            exc.key = where
        raise
    except Exception as exc:  # an SDK error: keep its code and message, add where it happened
        error = getattr(exc, "response", None) or {}
        code = error.get("Error", {}).get("Code") if isinstance(error, dict) else None
        message = error.get("Error", {}).get("Message") if isinstance(error, dict) else None
        raise PermanentError(message or str(exc), key=where, code=code or type(exc).__name__) from exc


def _kind_of(
    task_key: str, node_kind: dict[str, type[Resource]], orphans: list[tuple[str, type[Resource]]]
) -> type[Resource] | None:
    if task_key in node_kind:
        return node_kind[task_key]
    for key, kind in orphans:
        if key == task_key:
            return kind
    return None
