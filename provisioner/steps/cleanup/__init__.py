"""The cleanup step: what controllers inside the cluster leave behind, swept by `destroy`.

A Service of type LoadBalancer, an Ingress, a Karpenter node: controllers in the cluster
make AWS resources the plan never declared, and they keep a VPC from being deleted (the
classic stuck teardown of eksctl and Terraform). These kinds are sweep kinds
(`Resource.sweep`): `apply` never reads them, `plan --destroy` lists what they find, and
`destroy` deletes it, in SPEC section 7's order:

1. `cleanup/kube-load-balancers`: LoadBalancer Services and Ingresses are deleted while the
   cluster, its nodes and controllers still run, so the load balancer controller (or the
   in-tree cloud provider) removes its load balancers itself.
2. NodePools are deleted (they wait for Karpenter's NodeClaims to go), then
   `cleanup/karpenter-instances` terminates any instance still tagged as this cluster's
   Karpenter node and waits until they are terminated; only then the EC2NodeClass, the
   controller, the node group and the cluster go.
3. After the cluster is gone (nothing can make more), the AWS-side sweeps: load balancers
   (ELBv2 and classic), target groups, available network interfaces, security groups,
   launch templates and instance profiles, all before the subnets, security groups, roles
   and VPC of the plan that they would block.

What is swept is selected by this cluster's tags only, the ones those controllers write:
`kubernetes.io/cluster/<cluster>=owned` (in-tree cloud provider, Karpenter),
`elbv2.k8s.aws/cluster`, `karpenter.k8s.aws/cluster`, `karpenter.sh/managed-by`,
`eks:eks-cluster-name`, `aws:eks:cluster-name` and `cluster.k8s.amazonaws.com/name` (VPC CNI)
with the cluster's name as value. Anything carrying a `provisioner:plan` tag is a plan's own
resource (a node of this plan, or another plan's) and is never swept; anything without one
of these tags is never touched, whatever its name or VPC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from provisioner.aws.calls import call
from provisioner.aws.discovery import describe_all, describe_plan_ec2
from provisioner.aws.errors import TEMPORARY_CODES, ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list
from provisioner.aws.waiters import wait_for
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, Resource, RunContext
from provisioner.engine.errors import PermanentError

KUBE_LOAD_BALANCERS = "cleanup/kube-load-balancers"
KARPENTER_INSTANCES = "cleanup/karpenter-instances"
LOAD_BALANCERS = "cleanup/load-balancers"
CLASSIC_LOAD_BALANCERS = "cleanup/classic-load-balancers"
TARGET_GROUPS = "cleanup/target-groups"
NETWORK_INTERFACES = "cleanup/network-interfaces"
SECURITY_GROUPS = "cleanup/security-groups"
LAUNCH_TEMPLATES = "cleanup/launch-templates"
INSTANCE_PROFILES = "cleanup/instance-profiles"

# How long a LoadBalancer Service or Ingress may take to go (its controller deletes the load
# balancer first). Past it the destroy goes on: the AWS-side sweep removes what is left.
KUBE_OBJECT_DELETE_TIMEOUT = 300.0
INSTANCE_TERMINATE_TIMEOUT = 900.0  # EC2 terminates within minutes; p95 well under this
ALIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def cluster_tag(tags: Mapping[str, str], cluster: str) -> str | None:
    """The tag (`key=value`) that marks a resource as made for `cluster`, or None."""
    if tags.get(f"kubernetes.io/cluster/{cluster}") == "owned":
        return f"kubernetes.io/cluster/{cluster}=owned"
    for key in (
        "elbv2.k8s.aws/cluster",
        "karpenter.k8s.aws/cluster",
        "karpenter.sh/managed-by",
        "eks:eks-cluster-name",
        "aws:eks:cluster-name",
        "cluster.k8s.amazonaws.com/name",
    ):
        if tags.get(key) == cluster:
            return f"{key}={cluster}"
    return None


def plan_vpc_id(ctx: RunContext) -> str | None:
    """The plan's VPC (by its ownership tags), or None once it is gone."""
    for vpc in describe_plan_ec2(ctx, "describe_vpcs", "Vpcs"):
        if vpc.get("State") != "deleting":
            return str(vpc["VpcId"])
    return None


@dataclass(kw_only=True)
class Leftover(Resource):
    """A sweep kind: `candidates` lists what might be the cluster's; `discover` keeps what
    carries one of the cluster's tags and no plan's."""

    sweep = True
    taggable = False
    create_seconds = 0.0
    delete_seconds = 5.0
    sweep_key: ClassVar[str]

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        """(id, tags, raw) of every resource of the kind that may be the cluster's."""
        raise NotImplementedError

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        cluster = cluster_name(ctx.plan_name)
        lives = []
        for id_, tags, raw in cls.candidates(ctx):
            why = cluster_tag(tags, cluster)
            if why and TAG_PLAN not in tags:
                lives.append(
                    Live(
                        key=cls.sweep_key,
                        id=id_,
                        fields={"reason": f"made for cluster {cluster}: tagged {why}"},
                        tags=tags,
                        raw=raw,
                    )
                )
        return lives

    @classmethod
    def call(
        cls, ctx: RunContext, service: str, operation: str, *, temporary: Iterable[str] = (), **params: Any
    ) -> Any:
        """One call; "not found" is success (already gone), `temporary` codes are retried
        (with the shared ones)."""
        return call(
            ctx,
            service,
            operation,
            key=cls.sweep_key,
            missing_ok=True,
            temporary=TEMPORARY_CODES | frozenset(temporary),
            **params,
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


# --- in the cluster -------------------------------------------------------------------------


@dataclass(kw_only=True)
class KubeLoadBalancers(Leftover):
    """LoadBalancer Services and Ingresses, deleted while their controllers still run."""

    type = "k8s:load-balancer"
    iam_actions = ("eks:DescribeCluster",)
    sweep_key = KUBE_LOAD_BALANCERS

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        from provisioner.kube import client as kube
        from provisioner.steps.karpenter.cluster import api_for, call

        api = api_for(ctx)
        if api is None:  # no cluster (or not reachable yet): nothing in it to delete
            return []
        lives = []
        for obj in call(None, "listing Services", kube.list_objects, api, "v1", "Service"):
            if (obj.get("spec") or {}).get("type") == "LoadBalancer":
                lives.append(_kube_live(obj, "Service of type LoadBalancer"))
        for obj in call(None, "listing Ingresses", kube.list_objects, api, "networking.k8s.io/v1", "Ingress"):
            lives.append(_kube_live(obj, "Ingress"))
        return lives

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.delete_all(ctx, [have])

    @classmethod
    def delete_all(cls, ctx: RunContext, found: list[Live]) -> None:
        """Delete them all, then wait once for all (their controllers work in parallel)."""
        from provisioner.kube import client as kube
        from provisioner.steps.karpenter.cluster import call, require_api

        if not found:
            return
        api = require_api(ctx, cls.sweep_key)
        pending: dict[str, tuple[Any, ...]] = {}
        for have in found:
            metadata = have.raw.get("metadata") or {}
            args = (api, have.raw["apiVersion"], have.raw["kind"], metadata.get("name"), metadata.get("namespace"))
            ctx.progress(cls.sweep_key, f"deleting {have.id} ({have.fields.get('reason')})")
            if call(cls.sweep_key, f"deleting {have.id}", kube.delete, *args):
                pending[have.id] = args

        def state() -> str | None:
            left = [name for name, args in pending.items() if call(cls.sweep_key, f"reading {name}", kube.get, *args)]
            return f"{len(left)} deleting (their controllers remove the load balancers first)" if left else None

        if not pending:
            return
        try:
            wait_for(
                ctx,
                key=cls.sweep_key,
                what="LoadBalancer Services and Ingresses",
                read_state=state,
                done={None},
                timeout=KUBE_OBJECT_DELETE_TIMEOUT,
            )  # type: ignore[arg-type]
        except PermanentError:
            ctx.progress(
                cls.sweep_key,
                "some are still there; going on: the sweep after the cluster removes the "
                "load balancers their controllers left",
            )


def _kube_live(obj: dict[str, Any], what: str) -> Live:
    metadata = obj.get("metadata") or {}
    name = f"{obj.get('kind')} {metadata.get('namespace')}/{metadata.get('name')}"
    return Live(key=KUBE_LOAD_BALANCERS, id=name, fields={"reason": f"{what} in the cluster"}, raw=obj)


# --- instances Karpenter launched -----------------------------------------------------------


@dataclass(kw_only=True)
class KarpenterInstances(Leftover):
    """Instances Karpenter launched for this cluster that its NodeClaims did not take away."""

    type = "ec2:instance"
    iam_actions = ("ec2:DescribeInstances", "ec2:TerminateInstances")
    sweep_key = KARPENTER_INSTANCES
    delete_seconds = 60.0

    @classmethod
    def candidates(cls, ctx: RunContext) -> Iterable[tuple[str, dict[str, str], Any]]:
        filters = [
            {"Name": "tag-key", "Values": ["karpenter.sh/nodepool"]},
            {"Name": "instance-state-name", "Values": ALIVE_INSTANCE_STATES},
        ]
        for reservation in describe_all(ctx.aws.client("ec2"), "describe_instances", "Reservations", Filters=filters):
            for instance in reservation.get("Instances", []):
                yield instance["InstanceId"], from_list(instance.get("Tags")), instance

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cls.delete_all(ctx, [have])

    @classmethod
    def delete_all(cls, ctx: RunContext, found: list[Live]) -> None:
        ids = [live.id for live in found]
        if not ids:
            return
        ctx.progress(cls.sweep_key, f"terminating {len(ids)} instance(s) Karpenter left: {', '.join(ids)}")
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            try:
                ctx.aws.client("ec2").terminate_instances(InstanceIds=batch)
            except ClientError as exc:
                # One id already gone fails the whole call (InvalidInstanceID.NotFound): the
                # others are terminated one by one, each "not found" being success.
                if not is_not_found(exc):
                    raise as_provisioner_error(exc, key=cls.sweep_key) from exc
                for instance_id in batch:
                    cls.call(ctx, "ec2", "terminate_instances", InstanceIds=[instance_id])
        poll = ctx.aws.poller("ec2")
        filters = [
            {"Name": "instance-id", "Values": ids},
            {"Name": "instance-state-name", "Values": ALIVE_INSTANCE_STATES},
        ]

        def state() -> str | None:
            # A filter, not InstanceIds: an id that is gone must not fail the whole read.
            alive = [
                i["InstanceId"]
                for r in describe_all(poll, "describe_instances", "Reservations", Filters=filters)
                for i in r["Instances"]
            ]
            return f"{len(alive)} of {len(ids)} terminating" if alive else None

        wait_for(
            ctx,
            key=cls.sweep_key,
            what="Karpenter instances",
            read_state=state,
            done={None},  # type: ignore[arg-type]
            timeout=INSTANCE_TERMINATE_TIMEOUT,
        )


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
    variant = "leftover"  # the plan's own templates are steps/eks/nodegroups.py's
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


# --- the graph ------------------------------------------------------------------------------


def resources(nodes: list[Resource]) -> list[Resource]:
    """The sweep nodes of an environment, ordered against its other `nodes` (see the module
    docstring). `depends_on` here means "deleted after this sweep", `destroy_after` "deleted
    before it"; apply never runs these nodes."""
    from provisioner.steps import eks, karpenter, network

    keys = {node.key for node in nodes}
    of_type = lambda *types: tuple(n.key for n in nodes if n.type in types)
    in_cluster = of_type("k8s:object", "k8s:crd", "k8s:deployment", "k8s:nodepool", "k8s:ec2nodeclass")
    node_pools = of_type("k8s:nodepool")
    subnets = of_type("ec2:subnet")
    groups = tuple(k for k in (eks.CLUSTER_SG, eks.NODE_SG) if k in keys)
    addons = tuple(k for k in keys if k.startswith("eks/addon/"))
    cluster_side = tuple(k for k in (eks.CLUSTER, eks.TOOL_ACCESS, eks.NODEGROUP) if k in keys)
    after_cluster = (eks.CLUSTER, KUBE_LOAD_BALANCERS, KARPENTER_INSTANCES)
    vpc_side = (network.VPC, *subnets, *groups)
    return [
        KubeLoadBalancers(key=KUBE_LOAD_BALANCERS, depends_on=(*cluster_side, *addons, *in_cluster)),
        KarpenterInstances(
            key=KARPENTER_INSTANCES,
            destroy_after=(KUBE_LOAD_BALANCERS, *node_pools),
            depends_on=(
                eks.CLUSTER,
                *of_type("k8s:ec2nodeclass", "k8s:deployment"),
                *subnets,
                *groups,
                *(k for k in (karpenter.NODE_ROLE,) if k in keys),
            ),
        ),
        LoadBalancers(key=LOAD_BALANCERS, destroy_after=after_cluster, depends_on=vpc_side),
        ClassicLoadBalancers(key=CLASSIC_LOAD_BALANCERS, destroy_after=after_cluster, depends_on=vpc_side),
        TargetGroups(key=TARGET_GROUPS, destroy_after=(*after_cluster, LOAD_BALANCERS), depends_on=(network.VPC,)),
        NetworkInterfaces(
            key=NETWORK_INTERFACES,
            destroy_after=(*after_cluster, LOAD_BALANCERS, CLASSIC_LOAD_BALANCERS),
            depends_on=vpc_side,
        ),
        SecurityGroups(
            key=SECURITY_GROUPS,
            destroy_after=(*after_cluster, LOAD_BALANCERS, CLASSIC_LOAD_BALANCERS, NETWORK_INTERFACES),
            depends_on=(network.VPC, *groups),
        ),
        LaunchTemplates(key=LAUNCH_TEMPLATES, destroy_after=after_cluster),
        InstanceProfiles(
            key=INSTANCE_PROFILES,
            destroy_after=after_cluster,
            depends_on=tuple(k for k in (karpenter.NODE_ROLE, eks.NODE_ROLE) if k in keys),
        ),
    ]
