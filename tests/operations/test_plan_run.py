"""One plan's plan / apply / destroy driven without argparse (operations/plan_run.py), as a
program would: options as data, the session from the test server, no terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioner.engine import ProtectedPlanError
from provisioner.engine.journal import read_runs
from provisioner.engine.lock import LocalLock
from provisioner.operations.plan_run import PlanRun, RunOptions
from provisioner.planfile import load_plan


def _run(plan: Any, options: RunOptions, session_for: Any, **hooks: Any) -> PlanRun:
    return PlanRun(plan, options, lambda plan, journal: session_for(plan.spec.region, journal), **hooks)


def test_apply_then_plan_is_empty_and_the_run_is_journaled_and_unlocked(
    session_for: Any, home: Path, single_account_plans: Path
) -> None:
    plan = load_plan("dev", single_account_plans)
    apply = _run(plan, RunOptions("apply"), session_for)
    apply.check()
    with apply:
        planned = apply.plan_changes()
        assert planned.changeset.has_changes and planned.estimate["seconds"] > 0
        assert apply.lock is not None and apply.journal is not None  # apply takes the lock, opens the journal
        result = apply.execute()
    assert result.status == "ok", [f.error for f in result.failures()]
    assert not LocalLock.status(home / "locks", plan.name)[0]
    (events,) = read_runs(home / "runs", plan.name)
    assert [e["event"] for e in events if e["event"] != "api-call"][:2] == ["run-start", "target"]
    assert events[-1]["event"] == "run-end" and events[-1]["status"] == "ok"
    assert sum(1 for e in events if e["event"] == "node") == len(result.results)

    again = _run(plan, RunOptions("plan"), session_for)
    with again:
        assert again.lock is None and again.journal is None  # plan only reads: no lock, no journal
        assert not again.plan_changes().changeset.has_changes
    assert len(read_runs(home / "runs", plan.name)) == 1


def test_protected_destroy_needs_the_name_typed_back_before_any_call(
    session_for: Any, home: Path, single_account_plans: Path
) -> None:
    plan = load_plan("prod", single_account_plans)
    assert plan.protected

    def no_session(plan: Any, journal: Any) -> Any:
        raise AssertionError("no AWS call before the checks pass")

    with pytest.raises(ProtectedPlanError, match="protected; destroy refuses"):
        PlanRun(plan, RunOptions("destroy"), no_session).check()
    asked: list[str] = []
    wrong = PlanRun(
        plan, RunOptions("destroy", allow_protected=True), no_session, ask=lambda p: asked.append(p) or "dev"
    )
    with pytest.raises(ProtectedPlanError, match="not typed back"):
        wrong.check()
    assert asked == [f"Type the plan name ({plan.name}) to destroy it: "]
    PlanRun(plan, RunOptions("destroy", allow_protected=True, confirm=plan.name), no_session).check()
