"""Steps: the resource kinds and the graph each plan kind builds from them.

`build(plan)` returns every node of a plan. Environment plans: network, EKS, RDS and
Karpenter in one graph, so independent work (the database and the cluster) runs at once.
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps import eks, karpenter, network, rds


def build(plan: Plan, region: str | None = None) -> list[Resource]:
    """Every node of a plan. `region` is where it runs (the plan's, unless overridden)."""
    if isinstance(plan.spec, EnvironmentPlan):
        region = region or plan.spec.region
        return [*network.resources(plan), *eks.resources(plan), *rds.resources(plan), *karpenter.resources(plan, region)]
    return []
