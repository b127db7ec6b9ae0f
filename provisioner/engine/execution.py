"""Executes a graph of tasks: each starts as soon as its dependencies are done, on a bounded
pool of workers, and is retried on temporary errors within its own budget.

A failed task fails only its dependents (they are skipped); independent branches run to the
end. The first Ctrl-C stops new work and lets in-flight tasks stop at their next wait; the
second one is not caught. The runner (runner.py) decides what the tasks are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from provisioner.engine.change import Action, Change, ChangeSet
from provisioner.engine.context import RunContext, current_key
from provisioner.engine.errors import Interrupted, PermanentError, ProvisionerError, TemporaryError

DEFAULT_WORKERS = 24
# How long a node may keep retrying temporary errors (IAM propagation can take minutes).
RETRY_BUDGET_SECONDS = 600.0


@dataclass
class NodeResult:
    key: str
    type: str
    action: str
    status: str  # done | failed | skipped | interrupted
    started: str | None = None
    ended: str | None = None
    error: str | None = None
    error_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class RunResult:
    plan: str
    operation: str
    changeset: ChangeSet
    results: dict[str, NodeResult] = field(default_factory=dict)
    started: str = ""
    ended: str = ""
    duration: float = 0.0

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results.values()}
        if "interrupted" in statuses:
            return "interrupted"
        if statuses & {"failed", "skipped"}:
            return "failed"
        return "ok"

    def failures(self) -> list[NodeResult]:
        return [r for r in self.results.values() if r.status == "failed"]


@dataclass
class Task:
    """One unit of an apply or destroy: `run` after every key in `deps` is done."""

    key: str
    type: str
    deps: set[str]
    run: Callable[[], Change | None]
    action: Action


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def execute(ctx: RunContext, operation: str, tasks: dict[str, Task], workers: int = DEFAULT_WORKERS) -> RunResult:
    started_at = ctx.clock.now()  # type: ignore[union-attr]
    result = RunResult(ctx.plan_name, operation, ChangeSet(ctx.plan_name), started=_now())
    remaining = {k: set(t.deps) for k, t in tasks.items()}
    dependents: dict[str, set[str]] = {k: set() for k in tasks}
    for key, task in tasks.items():
        for dep in task.deps:
            dependents[dep].add(key)
    ready = sorted(k for k, deps in remaining.items() if not deps)
    running: dict[Future[Change | None], str] = {}
    lock = threading.Lock()

    def skip_dependents(key: str, why: str) -> None:
        stack = list(dependents[key])
        while stack:
            child = stack.pop()
            if child in result.results:
                continue
            result.results[child] = NodeResult(
                child, tasks[child].type, tasks[child].action.value, "skipped", error=why
            )
            ctx.reporter.event("skip", child, why)
            stack.extend(dependents[child])

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="node") as pool:
        while ready or running:
            while ready and not ctx.cancel.is_set():
                key = ready.pop(0)
                if key in result.results:
                    continue
                result.results[key] = NodeResult(
                    key, tasks[key].type, tasks[key].action.value, "running", started=_now()
                )
                running[pool.submit(run_task, ctx, tasks[key])] = key
            if ctx.cancel.is_set():
                ready.clear()
            if not running:
                break
            try:
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                if ctx.cancel.is_set():
                    raise
                ctx.cancel.set()
                ctx.reporter.event(
                    "interrupt", None, "interrupted: letting in-flight calls finish (Ctrl-C again to stop at once)"
                )
                continue
            for future in done:
                key = running.pop(future)
                node_result = result.results[key]
                node_result.ended = _now()
                try:
                    change = future.result()
                except Interrupted:
                    node_result.status = "interrupted"
                    continue
                except ProvisionerError as exc:
                    node_result.status = "failed"
                    node_result.error = exc.describe().removeprefix(f"{key}: ")
                    node_result.error_code = exc.code
                    ctx.reporter.event("fail", key, node_result.error)
                    skip_dependents(key, f"skipped: {key} failed")
                    continue
                except Exception as exc:  # a bug or an unclassified SDK error: fail the node only
                    node_result.status = "failed"
                    node_result.error = f"{type(exc).__name__}: {exc}"
                    ctx.reporter.event("fail", key, node_result.error, exc_info=exc)
                    skip_dependents(key, f"skipped: {key} failed")
                    continue
                node_result.status = "done"
                if change is not None:
                    node_result.action = change.action.value
                    result.changeset.changes.append(change)
                with lock:
                    for child in dependents[key]:
                        remaining[child].discard(key)
                        if not remaining[child] and child not in result.results:
                            ready.append(child)
                ready.sort()
    for key, task in tasks.items():
        if key not in result.results:
            if ctx.cancel.is_set():
                result.results[key] = NodeResult(key, task.type, task.action.value, "interrupted")
            else:  # only a dependency cycle leaves a task never ready without a failure
                result.results[key] = NodeResult(
                    key,
                    task.type,
                    task.action.value,
                    "failed",
                    error="never became ready: its dependencies wait on each other",
                )
    result.ended = _now()
    result.duration = round(ctx.clock.now() - started_at, 3)  # type: ignore[union-attr]
    return result


def run_task(ctx: RunContext, task: Task) -> Change | None:
    token = current_key.set(task.key)
    clock = ctx.clock
    assert clock is not None
    deadline = clock.now() + RETRY_BUDGET_SECONDS
    try:
        if task.action is not Action.NOOP:
            ctx.reporter.event("start", task.key, task.action.value)
        while True:
            ctx.check_cancel()
            try:
                change = task.run()
                if change is not None and (change.action is not Action.NOOP or task.action is not Action.NOOP):
                    ctx.reporter.event("done", task.key, change.action.verb[1], change=change.as_dict())
                return change
            except TemporaryError as exc:
                if clock.now() + exc.delay > deadline:
                    raise PermanentError(
                        f"still failing after {RETRY_BUDGET_SECONDS:.0f}s of retries: {exc.message}",
                        key=task.key,
                        code=exc.code,
                        hint=exc.hint,
                    ) from exc
                ctx.progress(task.key, f"retrying in {exc.delay:.0f}s: {exc.message}")
                clock.sleep(exc.delay)
    finally:
        current_key.reset(token)
