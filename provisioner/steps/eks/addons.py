"""EKS managed add-ons (eks:addon) and the versions they default to (eks:addon-versions).

`eks:addon-versions` is a read-only node (a data source): it publishes the version each
add-on the plan does not pin is planned at. That is EKS's default for the plan's Kubernetes
version (DescribeAddonVersions, one read for every add-on) when an add-on is created and when
the cluster moves to another version; an add-on that exists on a cluster already at the plan's
version keeps the version it has, so a run reads the catalog only when something must change
(issue #17), as Terraform's aws_eks_addon and eksctl treat an unset version. Pin a version
(`eks.addons`) to hold an add-on at it: a pinned version is compared on every plan. It creates
and deletes nothing.

Add-ons are created with `resolveConflicts: OVERWRITE` (EKS owns their fields) and awaited
until ACTIVE. CoreDNS cannot become ACTIVE without nodes, so its node depends on the system
node group; vpc-cni must be ACTIVE before nodes can become Ready, so the node group depends
on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.waiters import age, since, wait_for
from provisioner.engine import Live, Refs, Resource, RunContext, TemporaryError, tags_changed
from provisioner.steps.common.listed import Listing
from provisioner.steps.eks.clusters import Cluster
from provisioner.steps.eks.in_cluster import InCluster
from provisioner.steps.eks.updates import ADDON_UPDATE_SECONDS, cluster_token, eks_call, wait_for_update

# latency-model.md p50 seconds to ACTIVE, per add-on
ADDON_SECONDS = {"vpc-cni": 40.0, "eks-pod-identity-agent": 25.0, "kube-proxy": 25.0, "coredns": 15.0}
ADDON_TIMEOUT = 900.0


@dataclass(kw_only=True)
class AddonVersions(Resource):
    kubernetes_version: str
    addons: tuple[str, ...]

    type = "eks:addon-versions"
    iam_actions = ("eks:DescribeAddonVersions", "eks:DescribeCluster", "eks:ListAddons", "eks:DescribeAddon")
    create_seconds = 0.0
    delete_seconds = 0.0
    taggable = False
    read_only = True

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """A data source compares nothing: it publishes outputs (default versions by add-on)."""
        return {}

    def read(self, ctx: RunContext) -> Live:
        kept = self.kept_versions(ctx)
        if kept is not None:
            return Live(key=self.key, id=f"kubernetes-{self.kubernetes_version}", outputs=kept)
        eks = ctx.aws.client("eks")
        defaults: dict[str, str] = {}
        # One listing of the add-ons EKS itself publishes (vpc-cni, kube-proxy, coredns, the
        # pod identity agent, ...) for this Kubernetes version, not one call per add-on; an
        # add-on it does not cover (another publisher) is then asked for by name. Read once
        # per run: plan and apply share it.
        listing = ctx.cached(
            ("eks", "addon-versions", self.kubernetes_version),
            lambda: describe_all(
                eks, "describe_addon_versions", "addons", kubernetesVersion=self.kubernetes_version, publishers=["eks"]
            ),
        )
        found = [addon for addon in listing if addon.get("addonName") in self.addons]
        for name in sorted(set(self.addons) - {addon.get("addonName") for addon in found}):
            found += describe_all(
                eks, "describe_addon_versions", "addons", kubernetesVersion=self.kubernetes_version, addonName=name
            )
        for addon in found:
            for version in addon.get("addonVersions", []):
                for compatibility in version.get("compatibilities", []):
                    if compatibility.get("clusterVersion") == self.kubernetes_version and compatibility.get(
                        "defaultVersion"
                    ):
                        defaults[addon["addonName"]] = version["addonVersion"]
        return Live(key=self.key, id=f"kubernetes-{self.kubernetes_version}", outputs=defaults)

    def kept_versions(self, ctx: RunContext) -> dict[str, str] | None:
        """The live version of every unpinned add-on that reads its version here, when each
        exists on a cluster already at this node's Kubernetes version (see the module
        docstring); None when one is missing or its cluster is on another version (created,
        or upgraded by this plan): then the catalog gives the defaults."""
        readers = [n for n in ctx.nodes.values() if isinstance(n, Addon) and n.versions == self.key]
        if not readers:
            return None  # no graph to tell (a node read alone): the catalog, as before
        unpinned = [n for n in readers if not n.pinned_version]
        if not unpinned:
            return {}  # every add-on pinned: no default to resolve
        addons = {live.key: live for live in ctx.live(Addon)}
        clusters = {live.key: live for live in ctx.live(Cluster)}
        kept = {}
        for node in unpinned:
            addon, cluster = addons.get(node.key), clusters.get(node.cluster)
            if addon is None or cluster is None or not addon.fields.get("version"):
                return None
            if cluster.fields.get("version") != self.kubernetes_version or addon.fields.get("cluster") != cluster.id:
                return None
            kept[node.name] = str(addon.fields["version"])
        return kept


@dataclass(kw_only=True)
class Addon(InCluster):
    cluster: str
    name: str
    versions: str  # key of the eks:addon-versions node
    pinned_version: str | None = None
    service_account_role: str | None = None  # key of an iam:role, for IRSA-style add-ons
    configuration: dict[str, Any] = field(default_factory=dict)

    type = "eks:addon"
    iam_actions = (
        "eks:ListAddons",
        "eks:DescribeAddon",
        "eks:CreateAddon",
        "eks:UpdateAddon",
        "eks:DescribeUpdate",
        "eks:TagResource",
        "eks:DeleteAddon",
    )
    delete_seconds = 10.0
    replace_on = frozenset({"cluster"})
    listing = Listing(
        service="eks",
        list_operation="list_addons",
        list_key="addons",
        describe_operation="describe_addon",
        describe_key="addon",
        id_param="addonName",
        scope_param="clusterName",
        live_id="{clusterName}/{addonName}",
        state_field="status",
        gone_states=frozenset({"DELETING"}),
    )

    @property
    def create_seconds(self) -> float:  # type: ignore[override]
        return ADDON_SECONDS.get(self.name, 30.0)

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "cluster": item["clusterName"],
            "version": item.get("addonVersion"),
            "service_account_role_arn": item.get("serviceAccountRoleArn"),
        }

    @classmethod
    def outputs_of(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"arn": item.get("addonArn"), "status": item.get("status")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        version = self.pinned_version or refs.get(self.versions, self.name)
        role = refs.get(self.service_account_role, "arn") if self.service_account_role else None
        return {"cluster": refs.id(self.cluster), "version": version, "service_account_role_arn": role}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        params: dict[str, Any] = {
            "clusterName": want["cluster"],
            "addonName": self.name,
            "addonVersion": want["version"],
            "resolveConflicts": "OVERWRITE",
            "tags": ctx.tags_for(self),
            "clientRequestToken": cluster_token(ctx, self.cluster, self.key, self.name, str(want["version"])),
        }
        if want["service_account_role_arn"]:
            params["serviceAccountRoleArn"] = want["service_account_role_arn"]
        addon = eks_call(ctx, self.key, "create_addon", **params)["addon"]
        return self.settle(ctx, self.live_of(self.key, addon, tags=ctx.tags_for(self)))

    def settle(self, ctx: RunContext, have: Live) -> Live:
        cluster, name = have.id.split("/", 1)
        poller = ctx.aws.poller("eks")

        def state() -> str:
            return poller.describe_addon(clusterName=cluster, addonName=name)["addon"]["status"]

        def issues() -> str:
            health = poller.describe_addon(clusterName=cluster, addonName=name)["addon"].get("health", {})
            return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in health.get("issues", []))

        wait_for(
            ctx,
            key=self.key,
            what=f"add-on {name}",
            read_state=state,
            done={"ACTIVE"},
            failed={"CREATE_FAILED", "UPDATE_FAILED", "DEGRADED"},
            timeout=ADDON_TIMEOUT,
            describe_failure=issues,
            expected=self.create_seconds if (have.raw or {}).get("status") == "CREATING" else None,
            already=age((have.raw or {}).get("createdAt")),
        )
        return have

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        cluster, name = have.id.split("/", 1)
        if {"version", "service_account_role_arn"} & set(diff):
            params: dict[str, Any] = {
                "clusterName": cluster,
                "addonName": name,
                "addonVersion": want["version"],
                "resolveConflicts": "OVERWRITE",
            }
            if want["service_account_role_arn"]:
                params["serviceAccountRoleArn"] = want["service_account_role_arn"]
            update = eks_call(ctx, self.key, "update_addon", **params)["update"]
            wait_for_update(ctx, self.key, cluster, update["id"], expected=ADDON_UPDATE_SECONDS, addonName=name)
        if tags_changed(diff) and have.outputs.get("arn"):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        have.fields.update({k: want[k] for k in ("version", "service_account_role_arn")})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cluster, name = have.id.split("/", 1)
        requested = ctx.clock.now() if ctx.clock else 0.0
        try:
            ctx.aws.client("eks").delete_addon(clusterName=cluster, addonName=name)
        except ClientError as exc:
            if is_not_found(exc):
                return
            if "ResourceInUse" in str(exc):
                raise TemporaryError(str(exc), key=have.key, delay=5) from exc
            raise as_provisioner_error(exc, key=have.key) from exc
        poller = ctx.aws.poller("eks")

        def state() -> str | None:
            try:
                return poller.describe_addon(clusterName=cluster, addonName=name)["addon"]["status"]
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise

        wait_for(
            ctx,
            key=have.key,
            what=f"add-on {name} deletion",
            read_state=state,
            done={None},
            failed={"DELETE_FAILED"},
            timeout=ADDON_TIMEOUT,
            expected=cls.delete_seconds,
            already=since(ctx, requested),
        )
