"""logs:log-group for the EKS control plane: `/aws/eks/<cluster>/cluster`, with the plan's
retention (`eks.log_retention_days`) and this plan's ownership tags.

EKS writes the control plane's logs to that group and creates it, without a retention (logs
kept and billed forever) and without tags, when it does not exist. So the group is made
before the cluster (the cluster depends on it): it has its retention and tags from the first
log line, and nothing needs to be fixed afterwards. Putting the retention on a group EKS made
would work as well, but leaves a window with no retention and a group no plan owns.

A group of that name without any `provisioner:plan` tag was made by EKS for this plan's
cluster (a cluster from before this kind existed): it is adopted (tagged, retention set),
since its name is this plan's cluster's. One tagged for another plan is never touched.
Destroy deletes it after the cluster, which would otherwise make it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from provisioner.aws.discovery import tags_of
from provisioner.aws.tags import owned_key
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, RunContext
from provisioner.steps.network.flow_logs import LogGroup, log_group_tags, plan_log_groups


def control_plane_log_group(cluster: str) -> str:
    return f"/aws/eks/{cluster}/cluster"


@dataclass(kw_only=True)
class ControlPlaneLogGroup(LogGroup):
    iam_actions = LogGroup.iam_actions  # the same calls, on /aws/eks/<cluster>/cluster
    variant = "eks-control-plane"  # the group EKS writes to; flow logs' groups are LogGroup's

    @classmethod
    def expected_names(cls, ctx: RunContext) -> set[str]:
        return {*super().expected_names(ctx), control_plane_log_group(cluster_name(ctx.plan_name))}

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        logs = ctx.aws.client("logs")
        name = control_plane_log_group(cluster_name(ctx.plan_name))
        key = next((n.key for n in ctx.nodes.values() if isinstance(n, ControlPlaneLogGroup) and n.name == name), None)
        # The run's one DescribeLogGroups (network/flow_logs.py) names this group too.
        group = plan_log_groups(ctx).get(name)
        if group is None:
            return []
        arn = group["arn"].removesuffix(":*")
        tags = tags_of(ctx, arn, partial(log_group_tags, logs, arn))
        owner = owned_key(tags, ctx.plan_name) or (key if TAG_PLAN not in tags else None)
        if owner is None:
            return []
        return [
            Live(
                key=owner,
                id=name,
                tags=tags,
                raw=group,
                fields=cls.observe(group),
                outputs={"arn": arn, "name": name},
            )
        ]
