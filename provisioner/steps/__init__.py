"""Steps: the resource kinds and the graph each plan kind builds from them.

`build(plan)` returns every node of a plan. Environment plans have the network step now;
EKS, RDS and Karpenter join the same graph as their issues land. Organization and shared
plans have no steps yet and build an empty graph (nothing is created or deleted).
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps import eks, karpenter, network


def build(plan: Plan, region: str | None = None) -> list[Resource]:
    """Every node of a plan. `region` is where it runs (the plan's, unless overridden)."""
    if isinstance(plan.spec, EnvironmentPlan):
        region = region or plan.spec.region
        return [*network.resources(plan), *eks.resources(plan), *karpenter.resources(plan, region)]
    return []
