"""The system node group: an EKS managed node group (eks:nodegroup) that runs only system
workloads (Karpenter's controller, CoreDNS), on the launch template of launch_templates.py.

- A new default version of the launch template moves the node group to it with
  UpdateNodegroupVersion (a rolling replacement EKS performs).
- Scaling, labels and taints change in place (UpdateNodegroupConfig), each update awaited.
- Subnets, instance types, capacity type, AMI type, node role and launch template cannot
  change on a managed node group (UpdateNodegroupConfig takes none of them). The group is
  replaced create-before-destroy: a new group named `<name>-<digest of those fields>` is made
  and awaited ACTIVE, then the old one is deleted (EKS cordons and drains its nodes), so the
  system pods (Karpenter, CoreDNS) always have a node. Both carry the node's key while that
  runs; discovery prefers the newest, so a run killed in between finishes the swap.
- A new AZ in the plan gives the group a subnet there through such a replacement (the
  control plane keeps its AZs; see clusters.py). Karpenter's EC2NodeClass finds the new
  private subnet by its discovery tag without any change.
- The taint `CriticalAddonsOnly=true:NoSchedule` keeps application pods off; CoreDNS tolerates
  it out of the box and Karpenter's Deployment is given the toleration.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.waiters import age, since, wait_for
from provisioner.constants import idempotency_token
from provisioner.engine import Live, Refs, RunContext, TemporaryError, field_changes, tags_changed
from provisioner.steps.common.listed import Listing
from provisioner.steps.eks.in_cluster import InCluster
from provisioner.steps.eks.updates import NODEGROUP_UPDATE_SECONDS, eks_call, wait_for_update

NODEGROUP_CREATE_TIMEOUT = 1200.0  # p95 220 s
NODEGROUP_DELETE_TIMEOUT = 1500.0  # p95 600 s
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.")


def ami_type_for(instance_types: tuple[str, ...]) -> str:
    return "AL2023_ARM_64_STANDARD" if all(_GRAVITON.match(t) for t in instance_types) else "AL2023_x86_64_STANDARD"


@dataclass(kw_only=True)
class Nodegroup(InCluster):
    cluster: str
    name: str
    role: str
    subnets: tuple[str, ...]
    launch_template: str
    instance_types: tuple[str, ...]
    capacity_type: str
    min_size: int
    desired_size: int
    max_size: int
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)
    kubernetes_version: str | None = None  # the cluster's (the plan's eks.version): the group follows it

    type = "eks:nodegroup"
    create_before_destroy = True
    iam_actions = (
        "eks:ListNodegroups",
        "eks:DescribeNodegroup",
        "eks:CreateNodegroup",
        "eks:UpdateNodegroupConfig",
        "eks:UpdateNodegroupVersion",
        "eks:DescribeUpdate",
        "eks:TagResource",
        "eks:DeleteNodegroup",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:RunInstances",
        "ec2:CreateTags",
    )
    # CreateNodegroup makes the managed node groups' service-linked role.
    linked_services = ("eks-nodegroup.amazonaws.com",)
    create_seconds = 110.0
    delete_seconds = 300.0
    replace_on = frozenset(
        {"cluster", "role_arn", "subnet_ids", "instance_types", "capacity_type", "ami_type", "launch_template_id"}
    )
    listing = Listing(
        service="eks",
        list_operation="list_nodegroups",
        list_key="nodegroups",
        describe_operation="describe_nodegroup",
        describe_key="nodegroup",
        id_param="nodegroupName",
        scope_param="clusterName",
        live_id="{clusterName}/{nodegroupName}",
        state_field="status",
        gone_states=frozenset({"DELETING"}),
    )

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = super().discover(ctx)
        # Two groups share a key only while one replaces the other: the newest is the node's.
        lives.sort(key=lambda live: str(live.raw.get("createdAt") or ""), reverse=True)
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        scaling = item.get("scalingConfig", {})
        template = item.get("launchTemplate") or {}
        return {
            "cluster": item["clusterName"],
            "role_arn": item.get("nodeRole"),
            "subnet_ids": sorted(item.get("subnets", [])),
            "instance_types": sorted(item.get("instanceTypes") or []),
            "capacity_type": item.get("capacityType"),
            "ami_type": item.get("amiType"),
            "launch_template_id": template.get("id"),
            "launch_template_version": str(template.get("version")) if template.get("version") is not None else None,
            "scaling": {
                "min": scaling.get("minSize"),
                "desired": scaling.get("desiredSize"),
                "max": scaling.get("maxSize"),
            },
            "labels": dict(item.get("labels") or {}),
            "taints": sorted([t["key"], t.get("value", ""), t["effect"]] for t in item.get("taints") or []),
            "version": item.get("version"),
        }

    @classmethod
    def outputs_of(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"arn": item.get("nodegroupArn"), "name": item["nodegroupName"]}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "cluster": refs.id(self.cluster),
            "role_arn": refs.get(self.role, "arn"),
            "subnet_ids": sorted((refs.id(s) for s in self.subnets), key=str),
            "instance_types": sorted(self.instance_types),
            "capacity_type": self.capacity_type,
            "ami_type": ami_type_for(self.instance_types),
            "launch_template_id": refs.id(self.launch_template),
            "launch_template_version": refs.get(self.launch_template, "version"),
            "scaling": {"min": self.min_size, "desired": self.desired_size, "max": self.max_size},
            "labels": dict(self.labels),
            "taints": sorted([k, v, e] for k, v, e in self.taints),
            **({"version": self.kubernetes_version} if self.kubernetes_version else {}),
        }

    def replace_reason(self, changed: set[str], have: Live) -> str:
        fields = ", ".join(sorted(changed & self.replace_on))
        return (
            f"EKS cannot change a managed node group's {fields}: a new group is made and ready before "
            f"the old one is drained and deleted"
        )

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        return self._create(ctx, want, self.name)

    def create_replacement(self, ctx: RunContext, want: dict[str, Any], old: Live) -> Live:
        """The new group beside the old one: named after what cannot change in place, so the
        name says which generation it is and a repeated run makes the same name."""
        immutable = json.dumps({k: want[k] for k in sorted(self.replace_on) if k in want}, sort_keys=True, default=str)
        name = f"{self.name}-{hashlib.sha256(immutable.encode()).hexdigest()[:8]}"
        if name == old.outputs.get("name"):
            name = f"{name}-b"
        ctx.progress(
            self.key,
            f"creating node group {name} beside {old.outputs.get('name')}; the old one is deleted once it is ACTIVE",
        )
        return self._create(ctx, want, name)

    def _create(self, ctx: RunContext, want: dict[str, Any], name: str) -> Live:
        eks = ctx.aws.client("eks")
        # A replacement's token differs from the first group's (same template, other name).
        salt = (want["launch_template_id"],) if name == self.name else (want["launch_template_id"], name)

        def create() -> dict[str, Any]:
            return eks.create_nodegroup(
                clusterName=want["cluster"],
                nodegroupName=name,
                nodeRole=want["role_arn"],
                subnets=want["subnet_ids"],
                instanceTypes=list(self.instance_types),
                capacityType=self.capacity_type,
                amiType=want["ami_type"],
                scalingConfig={"minSize": self.min_size, "desiredSize": self.desired_size, "maxSize": self.max_size},
                labels=dict(self.labels),
                taints=[{"key": k, "value": v, "effect": e} for k, v, e in self.taints],
                launchTemplate={"id": want["launch_template_id"], "version": want["launch_template_version"]},
                tags=ctx.tags_for(self),
                # Salted with the template: after a destroy, a new group is not the old token's.
                clientRequestToken=idempotency_token(ctx.plan_name, self.key, *salt),
            )["nodegroup"]

        try:
            group = eventually(
                ctx,
                create,
                codes={"InvalidParameterException"},
                key=self.key,
                what="node role not usable yet",
                message_contains="role",
                budget=180,
            )
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        return self.settle(ctx, self.live_of(self.key, group, tags=ctx.tags_for(self)))

    def settle(self, ctx: RunContext, have: Live) -> Live:
        cluster, name = have.id.split("/", 1)
        poller = ctx.aws.poller("eks")

        def state() -> str:
            return poller.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]["status"]

        def issues() -> str:
            health = poller.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"].get("health", {})
            return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in health.get("issues", []))

        # DEGRADED is a health warning on a working group (e.g. one AZ short of capacity):
        # report it, do not block every later apply on it.
        final = wait_for(
            ctx,
            key=self.key,
            what=f"node group {name}",
            read_state=state,
            done={"ACTIVE", "DEGRADED"},
            failed={"CREATE_FAILED", "DELETE_FAILED"},
            timeout=NODEGROUP_CREATE_TIMEOUT,
            describe_failure=issues,
            expected=self.create_seconds if (have.raw or {}).get("status") == "CREATING" else None,
            already=age((have.raw or {}).get("createdAt")),
        )
        if final == "DEGRADED":
            ctx.progress(self.key, f"node group {name} is DEGRADED: {issues()}")
        return have

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        cluster, name = have.id.split("/", 1)
        config: dict[str, Any] = {}
        if "scaling" in diff:
            config["scalingConfig"] = {
                "minSize": self.min_size,
                "desiredSize": self.desired_size,
                "maxSize": self.max_size,
            }
        if "labels" in diff:
            current = have.fields.get("labels") or {}
            config["labels"] = {
                "addOrUpdateLabels": want["labels"],
                "removeLabels": [k for k in current if k not in want["labels"]],
            }
        if "taints" in diff:
            wanted_keys = {t[0] for t in want["taints"]}
            config["taints"] = {
                "addOrUpdateTaints": [{"key": k, "value": v, "effect": e} for k, v, e in want["taints"]],
                "removeTaints": [
                    {"key": k, "value": v, "effect": e}
                    for k, v, e in have.fields.get("taints") or []
                    if k not in wanted_keys
                ],
            }
        if config:
            update = eks_call(
                ctx, self.key, "update_nodegroup_config", clusterName=cluster, nodegroupName=name, **config
            )["update"]
            wait_for_update(ctx, self.key, cluster, update["id"], expected=NODEGROUP_UPDATE_SECONDS, nodegroupName=name)
        version: dict[str, Any] = {}
        if "version" in diff:
            # The cluster's upgrade may have moved the group already (clusters.py follows each step).
            current = eks_call(ctx, self.key, "describe_nodegroup", clusterName=cluster, nodegroupName=name)[
                "nodegroup"
            ].get("version")
            if current != want["version"]:
                version["version"] = want["version"]
        if "launch_template_version" in diff:
            version["launchTemplate"] = {"id": want["launch_template_id"], "version": want["launch_template_version"]}
        if version:  # one rolling update for a new template and a new Kubernetes version
            update = eks_call(
                ctx, self.key, "update_nodegroup_version", clusterName=cluster, nodegroupName=name, **version
            )["update"]
            wait_for_update(ctx, self.key, cluster, update["id"], expected=NODEGROUP_UPDATE_SECONDS, nodegroupName=name)
        if tags_changed(diff) and have.outputs.get("arn"):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        have.fields.update({k: want[k] for k in field_changes(diff)})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cluster, name = have.id.split("/", 1)
        requested = ctx.clock.now() if ctx.clock else 0.0
        try:
            ctx.aws.client("eks").delete_nodegroup(clusterName=cluster, nodegroupName=name)
        except ClientError as exc:
            if is_not_found(exc):
                return
            if error_code(exc) == "ResourceInUseException":
                raise TemporaryError(str(exc), key=have.key, code="ResourceInUseException", delay=10) from exc
            raise as_provisioner_error(exc, key=have.key) from exc
        poller = ctx.aws.poller("eks")

        def state() -> str | None:
            try:
                return poller.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]["status"]
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise

        wait_for(
            ctx,
            key=have.key,
            what=f"node group {name} deletion",
            read_state=state,
            done={None},
            failed={"DELETE_FAILED"},
            timeout=NODEGROUP_DELETE_TIMEOUT,
            expected=cls.delete_seconds,
            already=since(ctx, requested),
        )
