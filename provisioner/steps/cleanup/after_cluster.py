"""Sweeps that run after the cluster is gone: load balancers, target groups, network
interfaces, security groups, launch templates and instance profiles its controllers made."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provisioner.aws.controllers import cluster_tag
from provisioner.aws.discovery import describe_all
from provisioner.aws.tags import from_list
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, RunContext
from provisioner.steps.cleanup.leftover import (
    CLASSIC_LOAD_BALANCERS,
    INSTANCE_PROFILES,
    LAUNCH_TEMPLATES,
    LOAD_BALANCERS,
    NETWORK_INTERFACES,
    SECURITY_GROUPS,
    TARGET_GROUPS,
    Leftover,
    plan_vpc_id,
)


def _elb_items(
    ctx: RunContext, service: str, operation: str, result_key: str, id_field: str, id_param: str
) -> Iterable[tuple[str, dict[str, str], Any]]:
    """(id, tags, item) of every ELB resource of a kind: one describe (all pages), then its
    tags, 20 per DescribeTags call (the API's limit; ELB lists carry no tags)."""
    client = ctx.aws.client(service)
    items = describe_all(client, operation, result_key)
    ids = [item[id_field] for item in items]
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 20):
        for described in client.describe_tags(**{id_param: ids[start : start + 20]}).get("TagDescriptions", []):
            # ELBv2 names the resource `ResourceArn` here; classic ELB by its own id field.
            tags[described.get("ResourceArn") or described[id_field]] = from_list(described.get("Tags"))
    for item in items:
        yield item[id_field], tags.get(item[id_field], {}), item


# --- what stays in the VPC after the cluster ------------------------------------------------


@dataclass(kw_only=True)
class LoadBalancers(Leftover):
    """Application and network load balancers (AWS Load Balancer Controller)."""

    type = "elbv2:load-balancer"
    iam_actions = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DeleteLoadBalancer",
    )
    sweep_key = LOAD_BALANCERS
    delete_seconds = 10.0

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        return _elb_items(ctx, "elbv2", "describe_load_balancers", "LoadBalancers", "LoadBalancerArn", "ResourceArns")

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # The load balancer's ENIs go a little later; the subnets retry until they have.
        cls.call(ctx, "elbv2", "delete_load_balancer", LoadBalancerArn=have.id)


@dataclass(kw_only=True)
class ClassicLoadBalancers(Leftover):
    """Classic load balancers (the in-tree cloud provider's Services of type LoadBalancer)."""

    type = "elb:load-balancer"
    iam_actions = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DeleteLoadBalancer",
    )
    sweep_key = CLASSIC_LOAD_BALANCERS
    delete_seconds = 10.0

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        return _elb_items(
            ctx, "elb", "describe_load_balancers", "LoadBalancerDescriptions", "LoadBalancerName", "LoadBalancerNames"
        )

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.call(ctx, "elb", "delete_load_balancer", LoadBalancerName=have.id)


@dataclass(kw_only=True)
class TargetGroups(Leftover):
    type = "elbv2:target-group"
    iam_actions = (
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DeleteTargetGroup",
    )
    sweep_key = TARGET_GROUPS

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        return _elb_items(ctx, "elbv2", "describe_target_groups", "TargetGroups", "TargetGroupArn", "ResourceArns")

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # In use by a listener of a load balancer still deleting: retried.
        cls.call(ctx, "elbv2", "delete_target_group", TargetGroupArn=have.id, temporary=("ResourceInUse",))


@dataclass(kw_only=True)
class NetworkInterfaces(Leftover):
    """ENIs left `available` (detached) in the plan's VPC, e.g. by the VPC CNI."""

    type = "ec2:network-interface"
    iam_actions = ("ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")
    sweep_key = NETWORK_INTERFACES

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        vpc = plan_vpc_id(ctx)
        if vpc is None:
            return
        filters = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "status", "Values": ["available"]}]
        for eni in describe_all(
            ctx.aws.client("ec2"), "describe_network_interfaces", "NetworkInterfaces", Filters=filters
        ):
            yield eni["NetworkInterfaceId"], from_list(eni.get("TagSet")), eni

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # An interface still attached answers InvalidParameterValue "... is currently in use"
        # (and some regions InvalidNetworkInterface.InUse): retried until it is detached.
        cls.call(
            ctx,
            "ec2",
            "delete_network_interface",
            NetworkInterfaceId=have.id,
            temporary=("InvalidNetworkInterface.InUse", "InvalidParameterValue"),
        )


@dataclass(kw_only=True)
class SecurityGroups(Leftover):
    """Security groups controllers made in the plan's VPC (load balancers' groups)."""

    type = "ec2:security-group"
    variant = "leftover"  # the plan's own groups are steps/network/security_groups.py's
    iam_actions = (
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
    )
    sweep_key = SECURITY_GROUPS

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        for group in cls._vpc_groups(ctx):
            if group.get("GroupName") != "default":
                yield group["GroupId"], from_list(group.get("Tags")), group

    @classmethod
    def _vpc_groups(cls, ctx: RunContext) -> list[dict[str, Any]]:
        vpc = plan_vpc_id(ctx)
        if vpc is None:
            return []
        return describe_all(
            ctx.aws.client("ec2"),
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "vpc-id", "Values": [vpc]}],
        )

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # A group another group's rule references cannot be deleted. The load balancer
        # controller adds such rules to the node group; they are removed from the plan's own
        # groups and the cluster's, never from anyone else's (that would stay a blocker).
        cluster = cluster_name(ctx.plan_name)
        for group in cls._vpc_groups(ctx):
            tags = from_list(group.get("Tags"))
            if group["GroupId"] == have.id or not (tags.get(TAG_PLAN) == ctx.plan_name or cluster_tag(tags, cluster)):
                continue
            for direction, operation in (
                ("IpPermissions", "revoke_security_group_ingress"),
                ("IpPermissionsEgress", "revoke_security_group_egress"),
            ):
                rules = _rules_referencing(group.get(direction) or [], have.id)
                if rules:
                    ctx.progress(cls.sweep_key, f"removing {group['GroupId']}'s rules that refer to {have.id}")
                    cls.call(ctx, "ec2", operation, GroupId=group["GroupId"], IpPermissions=rules)
        cls.call(ctx, "ec2", "delete_security_group", GroupId=have.id, temporary=("DependencyViolation",))


def _rules_referencing(permissions: list[dict[str, Any]], group_id: str) -> list[dict[str, Any]]:
    rules = []
    for permission in permissions:
        pairs = [p for p in permission.get("UserIdGroupPairs") or [] if p.get("GroupId") == group_id]
        if pairs:
            rule = {k: v for k, v in permission.items() if k in ("IpProtocol", "FromPort", "ToPort")}
            rules.append({**rule, "UserIdGroupPairs": [{"GroupId": group_id}]})
    return rules


@dataclass(kw_only=True)
class LaunchTemplates(Leftover):
    """Launch templates Karpenter made for its nodes."""

    type = "ec2:launch-template"
    variant = "leftover"  # the plan's own templates are steps/eks/launch_templates.py's
    iam_actions = ("ec2:DescribeLaunchTemplates", "ec2:DeleteLaunchTemplate")
    sweep_key = LAUNCH_TEMPLATES

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        # All of them, selected here: an account holds few, and a multi-value `tag-key` filter
        # is not honoured alike everywhere (the sandbox's moto ANDs the values).
        for template in describe_all(ctx.aws.client("ec2"), "describe_launch_templates", "LaunchTemplates"):
            yield template["LaunchTemplateId"], from_list(template.get("Tags")), template

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.call(ctx, "ec2", "delete_launch_template", LaunchTemplateId=have.id)


@dataclass(kw_only=True)
class InstanceProfiles(Leftover):
    """Instance profiles Karpenter made for its EC2NodeClass (named `<cluster>_<hash>`)."""

    type = "iam:instance-profile"
    iam_actions = (
        "iam:ListInstanceProfiles",
        "iam:GetInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteInstanceProfile",
    )
    sweep_key = INSTANCE_PROFILES

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        iam = ctx.aws.client("iam")
        cluster = cluster_name(ctx.plan_name)
        node_roles = {getattr(node, "name", None) for node in ctx.nodes.values() if node.type == "iam:role"}
        for profile in describe_all(iam, "list_instance_profiles", "InstanceProfiles"):
            name = profile["InstanceProfileName"]
            roles = {role["RoleName"] for role in profile.get("Roles") or []}
            # ListInstanceProfiles returns no tags; reading them costs a call per profile, so
            # only for names or roles that can be the cluster's.
            if name.startswith(f"{cluster}_") or roles & node_roles:
                full = (
                    cls.call(ctx, "iam", "get_instance_profile", InstanceProfileName=name).get("InstanceProfile") or {}
                )
                tags = from_list(full.get("Tags"))
                # IAM is global and the cluster's name is the same in every region the plan
                # runs in (`--region`): Karpenter tags its profiles with their region.
                if tags.get("topology.kubernetes.io/region", ctx.region) == ctx.region:
                    yield name, tags, profile

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        for role in (have.raw or {}).get("Roles") or []:
            cls.call(
                ctx, "iam", "remove_role_from_instance_profile", InstanceProfileName=have.id, RoleName=role["RoleName"]
            )
        cls.call(ctx, "iam", "delete_instance_profile", InstanceProfileName=have.id)
