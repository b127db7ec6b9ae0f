"""Rendering for people and for scripts: progress lines, a plan's changes, summaries, durations
and the JSON document of an apply or destroy.

Progress goes to stderr, so `--output json` keeps stdout a single JSON document. Text output
shortens long values (`TEXT_VALUE_LIMIT`); JSON output keeps them whole.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.engine.change import changed_paths, jsonable
from provisioner.planfile import Plan
from provisioner.planfile.transit import reachability, reachability_lines

if TYPE_CHECKING:
    from provisioner.operations.plan_run import Planned


class ProgressReporter:
    """Line-based progress on stderr: which nodes start, wait (on what) and finish."""

    def __init__(self, stream: TextIO, verbose: bool = False, prefix: str = "", start: float | None = None):
        self.stream = stream
        self.verbose = verbose
        self.prefix = prefix  # the plan's name when several plans run at once
        self.start = time.monotonic() if start is None else start
        self._lock = threading.Lock()

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        symbols = {"start": "..", "done": "ok", "fail": "!!", "skip": "--", "progress": "  ", "interrupt": "^C"}
        if kind == "done" and message == "unchanged" and not self.verbose:
            return
        elapsed = time.monotonic() - self.start
        change = data.get("change") or {}
        detail = f" ({change['id']})" if change.get("id") else ""
        line = f"[{elapsed:7.1f}s] {self.prefix}{symbols.get(kind, '  ')} {key + ' ' if key else ''}{message}{detail}"
        with self._lock:
            print(line, file=self.stream, flush=True)
        if kind == "fail" and self.verbose and data.get("exc_info") is not None:
            import traceback

            traceback.print_exception(data["exc_info"], file=self.stream)


# Text output shortens a value past this many characters (JSON output keeps it whole).
TEXT_VALUE_LIMIT = 120


def _fmt(value: Any, limit: int | None = None) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        text = json.dumps(jsonable(value), sort_keys=True)
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[: limit - 24]}... ({len(text)} characters)"
    return text


def render_changes(changeset: Any, out: TextIO, verbose: bool, past: bool = False) -> None:
    marks = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}
    for change in changeset.changes:
        # What a destroy keeps (a shared role, a key that encrypts a kept snapshot) is always
        # shown, so a reviewer does not take it for deleted.
        kept = change.action.value == "noop" and (change.reason or "").startswith("kept: ")
        if change.action.value == "noop" and not verbose and not change.info and not kept and not change.reason:
            continue
        verb = change.action.verb[1] if past else change.action.verb[0]
        reason = change.reason.removeprefix("kept: ") if kept and change.reason else change.reason
        if kept:
            verb = "kept" if past else "would keep"
        suffix = f" ({reason})" if reason else ""
        ident = f" [{change.id}]" if change.id else ""
        mark = "=" if kept else marks[change.action.value]
        print(f"  {mark:>3} {change.key}  {change.type}{ident}  {verb}{suffix}", file=out)
        for field, values in change.diff.items():
            # Only what changed inside a nested value (policy.Statement[3].Action), shortened;
            # `--output json` has the whole values.
            for path, before, after in changed_paths(field, values.get("from"), values.get("to")):
                print(
                    f"          {path}: {_fmt(before, TEXT_VALUE_LIMIT)} -> {_fmt(after, TEXT_VALUE_LIMIT)}", file=out
                )
        for field, value in change.info.items():
            print(f"          ({field}: {_fmt(value, TEXT_VALUE_LIMIT)})", file=out)
        if change.guard and not past:
            print(f"          ! guarded: {change.guard}", file=out)
            if change.dependents:
                shown = ", ".join(change.dependents[:8]) + (
                    f" and {len(change.dependents) - 8} more" if len(change.dependents) > 8 else ""
                )
                print(f"          ! depends on it: {shown}", file=out)


def render_blockers(changeset: Any, out: TextIO) -> None:
    """A destroy's preflight: what will stop it, found before anything is deleted."""
    if changeset.blockers:
        print(
            "Destroy will stop at what this plan does not own (it deletes everything else, then says what "
            "is left; remove these and run destroy again):",
            file=out,
        )
        for line in changeset.blockers:
            print(f"  ! {line}", file=out)


def destroy_summary(changeset: Any) -> dict[str, int]:
    """A destroy's counts: what it deletes, what it keeps (and why: each change's reason), what
    is already gone; not "unchanged", which would say a destroyed plan's resources exist."""
    counts = {"delete": 0, "kept": 0, "absent": 0, "noop": 0}
    for change in changeset.changes:
        if change.action.value == "delete":
            counts["delete"] += 1
        elif (change.reason or "").startswith("kept: "):
            counts["kept"] += 1
        elif (change.reason or "").startswith("absent"):
            counts["absent"] += 1
        else:
            counts["noop"] += 1  # read-only lookups
    return counts


def render_summary(summary: dict[str, int], destroy: bool = False) -> str:
    if destroy:
        return f"{summary['delete']} to delete, {summary['kept']} to keep, {summary['absent']} already absent"
    return (
        f"{summary['create']} to create, {summary['update']} to update, {summary['replace']} to replace, "
        f"{summary['delete']} to delete, {summary['noop']} unchanged"
    )


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def run_report(result: Any) -> dict[str, Any]:
    return {
        "plan": result.plan,
        "operation": result.operation,
        "status": result.status,
        "changes": [c.as_dict() for c in result.changeset.changes if c.action.value != "noop"],
        "steps": [r.as_dict() for r in result.results.values()],
        "started": result.started,
        "ended": result.ended,
        "duration_seconds": result.duration,
    }


def render_plan(plan: Plan, planned: Planned, guarded: list[Any], destroy: bool, verbose: bool, out: TextIO) -> None:
    """`plan`'s text: the changes, their counts and estimated time, what a destroy will stop
    at, what a protected plan's apply refuses, and the transit reachability."""
    changeset, estimate = planned.changeset, planned.estimate
    render_changes(changeset, out, verbose)
    print(f"Plan: {render_summary(destroy_summary(changeset) if destroy else changeset.summary(), destroy)}.", file=out)
    if changeset.has_changes:
        print(
            f"Estimated {'destroy' if destroy else 'apply'} time: {duration(estimate['seconds'])} "
            f"(serial: {duration(estimate['serial_seconds'])}); critical path: {' -> '.join(estimate['critical_path'])}",
            file=out,
        )
    render_blockers(changeset, out)
    if plan.protected and guarded:
        print(
            f"Protected plan: apply refuses {len(guarded)} guarded change(s) unless each is named: "
            + " ".join(f"--allow-replace {c.key}" for c in guarded)
            + f" --confirm {plan.name}",
            file=out,
        )
    for line in [] if destroy else reachability_lines(plan):
        print(line, file=out)


def plan_document(plan: Plan, planned: Planned, account: str, region: str, destroy: bool) -> dict[str, Any]:
    """`plan --output json`: one plan's changes, their counts and the estimate."""
    changeset = planned.changeset
    summary = changeset.summary()
    if destroy:
        summary.update({k: v for k, v in destroy_summary(changeset).items() if k in ("kept", "absent")})
    document: dict[str, Any] = {
        "plan": plan.name,
        "kind": plan.kind,
        "account": account,
        "region": region,
        "changes": [c.as_dict() for c in changeset.changes],
        "summary": summary,
        "estimate": planned.estimate,
    }
    if reachability(plan) is not None and not destroy:
        document["reachability"] = reachability(plan)
    if destroy:
        document["blockers"] = list(changeset.blockers)
    return document


def render_result(result: Any, operation: str, out: TextIO) -> None:
    """The end of an apply or destroy: what changed, what failed or was skipped, what next."""
    done = [c for c in result.changeset.changes if c.action.value != "noop"]
    print(f"{operation.capitalize()} {result.status}: {len(done)} change(s) in {duration(result.duration)}.", file=out)
    for failure in result.failures():
        print(f"  failed: {failure.key}: {failure.error}", file=out)
    skipped = [r.key for r in result.results.values() if r.status == "skipped"]
    if skipped:
        print(f"  skipped because a dependency failed: {', '.join(sorted(skipped))}", file=out)
    if result.status == "failed":
        print("  next: fix the cause above and run the same command again; finished work is kept.", file=out)
