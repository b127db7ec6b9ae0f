"""What a run of several plans shows (issue #17): the live view on stderr, each plan's text
output kept whole, and the end's table. Rendering only; the run itself is
provisioner/operations/run.py, driven by cli/commands/run.py.

- `RunView`: a line per plan with its phase, nodes done of total, what it waits for now,
  elapsed and estimated remaining time; rich's Live when stderr is a terminal, otherwise (and
  with --verbose) plain progress lines, each prefixed with its plan, and a line when a plan
  starts and ends.
- `PlanOut`: one plan's text output, printed whole when the plan ends (or before it asks for
  confirmation), so plans' lines never interleave.
- `render_run_end`: the end, one table, a line per plan.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any, TextIO

from provisioner.cli.render import ProgressReporter, duration
from provisioner.planfile import Plan


class PlanOut(io.StringIO):
    """One plan's text output while several run: kept whole and printed when the plan ends
    (or before it asks for confirmation), so plans' lines never interleave."""

    def __init__(self, target: TextIO, lock: threading.Lock):
        super().__init__()
        self.target, self.lock = target, lock

    def publish(self) -> None:
        with self.lock:
            text = self.getvalue()
            self.seek(0)
            self.truncate()
            if text:
                self.target.write(text)
                self.target.flush()


def render_run_end(outcomes: list[Any], estimate: dict[str, Any], operation: str, out: TextIO) -> None:
    """The end of a run of several plans: one table, a line per plan."""
    rows = [("PLAN", "RESULT", "DURATION", "DETAIL")]
    for o in outcomes:
        detail = ""
        if o.status == "not started":
            detail = f"because {o.blocked_by} failed" if o.blocked_by else "interrupted before it started"
        elif o.status == "failed":
            detail = o.error or ""
        elif o.document and operation == "plan":
            summary = o.document.get("summary") or {}
            detail = o.document.get("status") or ""
            if not detail:
                detail = (
                    ", ".join(
                        f"{summary[k]} to {k}" for k in ("create", "update", "replace", "delete") if summary.get(k)
                    )
                    or "no changes"
                )
        rows.append(
            (
                o.name,
                o.status,
                duration(o.duration) if o.duration is not None else "-",
                detail.splitlines()[0] if detail else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print("", file=out)
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=False)) + "  " + r[3], file=out)
    if operation == "plan" and estimate.get("critical_path"):
        print(
            f"Estimated run time: {duration(estimate['seconds'])} (serial: {duration(estimate['serial_seconds'])}); "
            f"critical path: {' -> '.join(estimate['critical_path'])}",
            file=out,
        )


class _PlanState:
    """What the live view shows of one plan: phase, nodes done of total, what it waits for."""

    def __init__(self, name: str):
        self.name = name
        self.phase = "waiting"
        self.done = 0
        self.total: int | None = None
        self.waiting_on = ""
        self.started: float | None = None
        self.executing: float | None = None
        self.estimate: float | None = None  # real seconds of the execute phase (sandbox-scaled)
        self.ended: float | None = None


class _ViewReporter(ProgressReporter):
    """A plan's progress reporter in a run of several plans: feeds the run's view, and
    prints its lines unless the live view draws them."""

    def __init__(self, view: RunView, state: _PlanState, stream: TextIO, verbose: bool, start: float):
        super().__init__(stream, verbose, f"{state.name}: ", start)
        self.view, self.state = view, state

    def event(self, kind: str, key: str | None, message: str, **data: Any) -> None:
        state = self.state
        if kind in ("done", "skip", "fail"):
            state.done += 1
            if key and state.waiting_on.startswith(key):
                state.waiting_on = ""
        elif kind == "progress":
            state.waiting_on = f"{key} {message}" if key else message
        if not self.view.live:
            super().event(kind, key, message, **data)

    def planned(self, total: int, estimate: float, scale: float) -> None:
        """Called once the plan's changes are known: its size and expected execute time."""
        self.state.total, self.state.phase = total, "applying"
        self.state.executing = time.monotonic()
        self.state.estimate = estimate * scale


class RunView:
    """The live view of a run of several plans (issue #17): a line per plan with its phase,
    nodes done of total, what it waits for now, elapsed and estimated remaining time; rich's
    Live on a terminal, plain progress lines (each prefixed with its plan) when stderr is not
    a terminal or with --verbose."""

    def __init__(self, err: TextIO, plans: list[Plan], verbose: bool, start: float):
        self.err, self.start, self.verbose = err, start, verbose
        self.states = {p.name: _PlanState(p.name) for p in plans}
        self._lock = threading.Lock()
        self.live = bool(not verbose and getattr(err, "isatty", lambda: False)())
        self._live: Any = None

    def reporter(self, plan: Plan) -> ProgressReporter:
        return _ViewReporter(self, self.states[plan.name], self.err, self.verbose, self.start)

    def __enter__(self) -> RunView:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._table(),
                console=Console(file=self.err),
                refresh_per_second=4,
                get_renderable=self._table,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def changed(self, outcome: Any) -> None:
        state = self.states[outcome.name]
        now = time.monotonic()
        if outcome.status == "running":
            state.phase, state.started = "planning", now
        else:
            state.phase, state.ended, state.waiting_on = outcome.status, now, ""
        if self.live:
            return
        what = {"running": "started", "done": "done", "failed": "FAILED", "interrupted": "interrupted"}.get(
            outcome.status, outcome.status
        )
        with self._lock:
            print(
                f"[{now - self.start:7.1f}s] == plan {outcome.name} {what}"
                + (f" in {duration(outcome.duration)}" if outcome.duration is not None else ""),
                file=self.err,
                flush=True,
            )

    def rows(self) -> list[tuple[str, ...]]:
        now = time.monotonic()
        rows: list[tuple[str, ...]] = []
        for state in self.states.values():
            elapsed = ((state.ended or now) - state.started) if state.started else None
            remaining = ""
            if state.phase == "applying" and state.estimate is not None and state.executing is not None:
                remaining = duration(max(0.0, state.estimate - (now - state.executing)))
            progress = f"{state.done}/{state.total}" if state.total is not None else ""
            rows.append(
                (
                    state.name,
                    state.phase,
                    progress,
                    state.waiting_on[:60],
                    duration(elapsed) if elapsed is not None else "",
                    remaining,
                )
            )
        return rows

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("PLAN", "PHASE", "NODES", "WAITING FOR", "ELAPSED", "REMAINING"):
            table.add_column(column)
        for row in self.rows():
            table.add_row(*row)
        return table
