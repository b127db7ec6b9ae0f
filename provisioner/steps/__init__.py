"""Steps: the resource kinds and the graph each plan kind builds from them.

`build(plan)` returns every node of a plan. Environment plans: network, EKS, RDS and
Karpenter in one graph, so independent work (the database and the cluster) runs at once.
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, OrganizationPlan, Plan, SharedPlan
from provisioner.steps import cleanup, eks, karpenter, network, organization, rds, shared, transit

SHARED_ACCOUNT = shared.DEFAULT_SHARED_ACCOUNT


def build(plan: Plan, region: str | None = None, account_ids: dict[str, str] | None = None) -> list[Resource]:
    """Every node of a plan. `region` is where it runs (the plan's, unless overridden);
    `account_ids` (account key -> id, from Organizations) lets an environment trust the
    Shared Services account's CI and attach to its Transit Gateway: without it the CI deploy
    role and the transit attachment are left out."""
    if isinstance(plan.spec, OrganizationPlan):
        return organization.resources(plan)
    if isinstance(plan.spec, SharedPlan):
        return shared.resources(plan)
    assert isinstance(plan.spec, EnvironmentPlan)
    region = region or plan.spec.region
    nodes = [*network.resources(plan), *eks.resources(plan), *rds.resources(plan), *karpenter.resources(plan, region)]
    shared_id = (account_ids or {}).get(SHARED_ACCOUNT)
    if shared_id:
        nodes += [*shared.environment_ci_resources(plan, shared_account=shared_id), eks.ci_access_entry()]
        nodes = transit.attach(plan, nodes, shared_id)  # the Transit Gateway (network.transit)
    # Steps that make roles each add the account's permissions boundary node; keep one.
    nodes = list({node.key: node for node in nodes}.values())
    return [*nodes, *cleanup.resources(nodes)]
