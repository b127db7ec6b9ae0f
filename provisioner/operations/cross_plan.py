"""Checks across plan files, before any call: environment VPC ranges must not overlap (they
may be peered or routed later), and the transit plans must agree (planfile/transit.py).

`validate` runs them on the plans it reads; `plan` and `apply` run the overlap check of their
plans against every other plan in the plans directory.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from provisioner.planfile import EnvironmentPlan, Plan, PlanFileError, PlanIssue, load_plan, plan_names
from provisioner.planfile.transit import transit_plan_issues


def cross_plan_issues(plans: list[Plan]) -> list[PlanIssue]:
    """Environment VPCs must not overlap each other (they may be peered or routed later):
    each later plan of an overlapping pair is named, with the earlier one's file."""
    issues = []
    for i, plan in enumerate(plans):
        issues += cidr_overlaps(plan, plans[:i])
    return issues + transit_plan_issues(plans)


def cidr_overlaps(plan: Plan, others: list[Plan]) -> list[PlanIssue]:
    """`plan`'s VPC range against the other plans' (the same check `validate` runs), as issues
    of `plan`'s file, naming the other file."""
    if not isinstance(plan.spec, EnvironmentPlan):
        return []
    mine = ipaddress.IPv4Network(plan.spec.network.cidr)
    issues = []
    for other in others:
        if (
            isinstance(other.spec, EnvironmentPlan)
            and other.name != plan.name
            and mine.overlaps(ipaddress.IPv4Network(other.spec.network.cidr))
        ):
            issues.append(
                PlanIssue(
                    str(plan.path),
                    None,
                    "network.cidr",
                    f"{plan.spec.network.cidr} overlaps plan {other.name}'s {other.spec.network.cidr} ({other.path})",
                    "a distinct, non-overlapping range per environment",
                )
            )
    return issues


def overlaps_with_plans_dir(plans: list[Plan], plans_dir: Path) -> list[PlanIssue]:
    """`plan` and `apply` run the cross-plan check of `validate` against every other plan in
    the plans directory. Another file that does not load is skipped here: it is not this
    run's problem (`validate` reports it)."""
    others = []
    for name in plan_names(plans_dir):
        if any(name == p.name for p in plans):
            continue
        try:
            others.append(load_plan(name, plans_dir))
        except PlanFileError:
            continue
    issues = []
    for i, plan in enumerate(plans):
        issues += cidr_overlaps(plan, [*others, *plans[:i]])
    return issues
