"""Several plans in one run (`apply organization shared dev staging prod`, `--all`).

Owns the plan-level graph: which plan needs which (derived from the plans, never from the
order of the arguments), running each plan as soon as the plans it needs have finished, with
independent plans at the same time on threads (each in its own account, under its own locks:
the per-plan work is the caller's), what a failure stops, the end's per-plan outcome, and the
run's estimate across plans (critical path vs serial sum).

Dependencies, as AWS imposes them:

- `shared` needs `organization`: its account is a member account the organization creates.
- an environment needs `organization` for its account (unless the plan names a literal
  12-digit id), and `shared` when Shared Services grants that account something (its ECR
  `pull_accounts` lists the environment's account: the repository policies name it).

A dependency counts only when both plans are part of the run. `destroy` reverses the graph:
environments first (at the same time), then shared, then the organization. `plan` only reads,
so its plans are read all at once; the graph still gives its estimate.

A failed plan stops only the plans that (transitively) need it: they end `not started`, naming
the failed plan; every other plan finishes. A cancel (Ctrl-C) starts nothing new: plans not yet
started end `not started` (interrupted), plans in flight wind down as a single plan does.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.engine.graph import Graph, critical_path
from provisioner.planfile import EnvironmentPlan, OrganizationPlan, Plan, load_plan, plan_names
from provisioner.steps import build

# What a plan's work returns as its exit code: 0 done, 2 done with changes (`plan
# --detailed-exitcode`), 130 interrupted, anything else failed.
DONE_CODES = (0, 2)
INTERRUPTED_CODE = 130


@dataclass
class PlanOutcome:
    """One plan's end in a run: `done`, `failed`, `interrupted` or `not started`."""

    name: str
    status: str = "not started"
    code: int | None = None
    document: dict[str, Any] | None = None
    error: str | None = None
    blocked_by: str | None = None  # the failed plan that kept this one from starting
    started: float | None = None
    ended: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started

    def reason(self) -> str:
        if self.status == "not started":
            return f"not started: {self.blocked_by} failed" if self.blocked_by else "not started: interrupted"
        if self.status == "failed" and self.error:
            return f"failed: {self.error}"
        return self.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.name,
            "status": self.status,
            "blocked_by": self.blocked_by,
            "error": self.error,
            "duration_seconds": self.duration,
        }


def dependencies(plans: Iterable[Plan]) -> dict[str, set[str]]:
    """Plan name -> the names of the plans of this run it needs finished first (apply order)."""
    plans = list(plans)
    organizations = [p.name for p in plans if isinstance(p.spec, OrganizationPlan)]
    shared = [p for p in plans if p.kind == "shared"]
    needs: dict[str, set[str]] = {p.name: set() for p in plans}
    for plan in plans:
        if isinstance(plan.spec, OrganizationPlan):
            continue
        account = str(getattr(plan.spec, "account", ""))
        if not re.fullmatch(r"\d{12}", account):
            needs[plan.name].update(organizations)
        if isinstance(plan.spec, EnvironmentPlan):
            for other in shared:
                ecr = getattr(other.spec, "ecr", None)
                if account in (getattr(ecr, "pull_accounts", None) or ()):
                    needs[plan.name].add(other.name)
    return needs


def reverse(needs: dict[str, set[str]]) -> dict[str, set[str]]:
    """The destroy order: a plan waits for every plan that needs it."""
    out: dict[str, set[str]] = {name: set() for name in needs}
    for name, wanted in needs.items():
        for other in wanted:
            out[other].add(name)
    return out


def run_estimate(needs: dict[str, set[str]], seconds: dict[str, float]) -> dict[str, Any]:
    """The run's estimate: the longest chain of plans (each plan's own estimated time, its
    plans in parallel) and the serial sum, shaped like a single plan's estimate."""
    total, path = critical_path(needs, lambda name: float(seconds.get(name, 0.0)))
    return {
        "seconds": round(total, 1),
        "serial_seconds": round(sum(seconds.get(n, 0.0) for n in needs), 1),
        "critical_path": path if total else [],
    }


def create_estimate(plan: Plan, region: str | None = None) -> dict[str, Any]:
    """What creating the whole plan would take (no AWS call): for a `plan` of several plans,
    where a plan's account does not exist yet (the organization creates it in this run)."""
    graph = Graph.build(build(plan, region or getattr(plan.spec, "region", None)))

    def seconds(key: str) -> float:
        node = graph.nodes[key]
        return 0.0 if node.read_only else float(node.create_seconds)

    total, path = critical_path(graph.deps, seconds)
    return {
        "seconds": round(total),
        "critical_path": path if total else [],
        "serial_seconds": round(sum(seconds(k) for k in graph.nodes)),
    }


def all_plan_names(plans_dir: Path) -> list[str]:
    """`--all`: every plan in the plans directory."""
    return plan_names(plans_dir)


class PlanGraphRun:
    """Runs `work(plan)` for each plan once the plans it waits for are done.

    `work` returns `(exit code, document)` or raises (the plan failed; the message is kept).
    `wait_for` maps a plan to the plans it waits for (apply's `dependencies`, or `reverse` for
    destroy; empty sets to start all at once). `cancel`, once set, starts nothing new.
    """

    def __init__(
        self,
        plans: list[Plan],
        work: Callable[[Plan], tuple[int, dict[str, Any]]],
        wait_for: dict[str, set[str]],
        cancel: threading.Event | None = None,
        describe: Callable[[BaseException], str] = str,
        on_change: Callable[[PlanOutcome], None] | None = None,
    ):
        self.plans = {p.name: p for p in plans}
        self.order = [p.name for p in plans]
        self.work = work
        self.wait_for = {name: set(wait_for.get(name, ())) & set(self.plans) for name in self.plans}
        self.cancel = cancel or threading.Event()
        self.describe = describe
        self.on_change = on_change
        self.outcomes = {name: PlanOutcome(name) for name in self.order}
        self._cond = threading.Condition()
        self._running: set[str] = set()

    def run(self) -> list[PlanOutcome]:
        threads: list[threading.Thread] = []
        with self._cond:
            while True:
                self._block_dependents()
                pending = [
                    n
                    for n in self.order
                    if self.outcomes[n].status == "not started"
                    and self.outcomes[n].blocked_by is None
                    and n not in self._running
                ]
                if not self.cancel.is_set():
                    for name in pending:
                        if all(self.outcomes[d].status == "done" for d in self.wait_for[name]):
                            self._running.add(name)
                            thread = threading.Thread(target=self._one, args=(name,), name=f"plan-{name}", daemon=True)
                            threads.append(thread)
                            thread.start()
                if not self._running:
                    break
                # A timeout, so a cancel set by a signal handler is seen without a notify.
                self._cond.wait(timeout=0.5)
        for thread in threads:
            thread.join()
        return [self.outcomes[n] for n in self.order]

    def _block_dependents(self) -> None:
        """Plans that wait for a failed (or blocked, or interrupted) plan will not start."""
        changed = True
        while changed:
            changed = False
            for name in self.order:
                outcome = self.outcomes[name]
                if outcome.status != "not started" or outcome.blocked_by or name in self._running:
                    continue
                for dep in sorted(self.wait_for[name]):
                    other = self.outcomes[dep]
                    if other.status in ("failed", "interrupted") or other.blocked_by:
                        outcome.blocked_by = other.blocked_by or dep if other.status == "not started" else dep
                        changed = True
                        break

    def _one(self, name: str) -> None:
        outcome = self.outcomes[name]
        outcome.started = time.monotonic()
        outcome.status = "running"
        self._changed(outcome)
        try:
            code, document = self.work(self.plans[name])
            outcome.code, outcome.document = code, document
            outcome.status = "done" if code in DONE_CODES else "interrupted" if code == INTERRUPTED_CODE else "failed"
            if outcome.status == "failed" and document:
                outcome.error = _first_failure(document)
        except BaseException as exc:
            outcome.status, outcome.code, outcome.error = "failed", 1, self.describe(exc)
        outcome.ended = time.monotonic()
        with self._cond:
            self._running.discard(name)
            self._cond.notify_all()
        self._changed(outcome)

    def _changed(self, outcome: PlanOutcome) -> None:
        if self.on_change is not None:
            try:
                self.on_change(outcome)
            except Exception:
                pass


def _first_failure(document: dict[str, Any]) -> str | None:
    for step in document.get("steps") or ():
        if step.get("status") == "failed":
            return f"{step.get('key')}: {step.get('error')}"
    return document.get("status")


def summary(outcomes: list[PlanOutcome]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {
        "plans": [o.as_dict() for o in outcomes],
        "counts": counts,
        "failed": [o.name for o in outcomes if o.status == "failed"],
    }


# ------------------------------------------------------------------------- sandbox faults
_FAULT_ACCOUNT_RE = re.compile(r"(fail=[^,@]+)@([^,]+)")


def resolve_fault_accounts(spec: str, plans_dir: Path) -> str:
    """`fail=service:Op@KEY` with KEY an account key of the organization plan in `plans_dir`
    (`@staging`) becomes `@<that account's email>`, which the sandbox knows; ids, emails and
    other names pass through unchanged (the sandbox checks them)."""
    if "@" not in spec or not (plans_dir / "organization.yaml").is_file():
        return spec
    organization = load_plan("organization", plans_dir).spec
    accounts = getattr(organization, "accounts", {}) or {}

    def swap(match: re.Match[str]) -> str:
        key = match.group(2)
        account = accounts.get(key)
        return f"{match.group(1)}@{account.email}" if account is not None else match.group(0)

    return _FAULT_ACCOUNT_RE.sub(swap, spec)
