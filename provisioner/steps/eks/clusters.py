"""eks:cluster: the EKS control plane in the private subnets.

- Secrets are envelope-encrypted with the plan's KMS key (set at creation; EKS cannot remove
  or change it later, so a different key replaces the cluster).
- Authentication is by access entries only (`authenticationMode: API`, no aws-auth
  ConfigMap); the creator is not made admin implicitly (`bootstrapClusterCreatorAdminPermissions:
  false`): the step declares the tool's identity and the plan's admin roles as access entries,
  so every admin is visible in the plan and owned like any other resource.
- CreateCluster right after the cluster role was created can fail with "role cannot be
  assumed" until IAM propagates (up to ~2 min): retried with its own budget.
- Endpoint access and logging change in place (UpdateClusterConfig); a version change walks
  one minor version per UpdateClusterVersion, as EKS requires; each update is awaited. After
  each control-plane step the plan's node groups follow (UpdateNodegroupVersion): EKS refuses
  the next step while a node group is a minor version behind.
- The upgrade policy is explicit (`upgradePolicy.supportType`, STANDARD unless the plan says
  EXTENDED): EKS's default is EXTENDED, which bills extended support once a version leaves
  standard support. Drift is corrected with UpdateClusterConfig.
- A cluster found UPDATING (a change made by hand, or by an interrupted run) describes its
  old configuration until the update ends, so a diff against that read is stale and EKS
  refuses another update meanwhile. Apply waits for ACTIVE, reads again and updates what
  still differs, so one apply converges (before, the second apply made the change).
- Subnets and security groups change in place too (UpdateClusterConfig `resourcesVpcConfig`,
  since October 2023), but only within the AZs the cluster was created in: the new subnets
  must cover each of those AZs and may not add another (EKS user guide, "View Amazon EKS
  networking requirements for VPC and subnets"). So the control plane keeps its AZs: a new
  AZ in the plan serves nodes (node group, Karpenter) and never replaces the cluster; only
  dropping one of the cluster's AZs, or another VPC, role or KMS key, replaces it.
- CreateCluster -> ACTIVE takes ~9.5 min (latency-model.md), polled every <= 5 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_plan_ec2
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.tags import owned_key
from provisioner.aws.waiters import age, since, wait_for
from provisioner.constants import cluster_name, idempotency_token
from provisioner.engine import (
    Live,
    PermanentError,
    Refs,
    Resource,
    RunContext,
    TemporaryError,
    field_changes,
    tags_changed,
)
from provisioner.steps.eks.updates import (
    CONFIG_UPDATE_SECONDS,
    NODEGROUP_UPDATE_SECONDS,
    VERSION_UPDATE_SECONDS,
    eks_call,
    wait_for_update,
)

CREATE_TIMEOUT = 1800.0  # p95 900 s
DELETE_TIMEOUT = 1200.0  # p95 600 s


@dataclass(kw_only=True)
class Cluster(Resource):
    name: str
    version: str
    role: str
    subnets: tuple[str, ...]
    security_group: str
    kms_key: str
    endpoint_private: bool
    endpoint_public: bool
    public_cidrs: tuple[str, ...]
    log_types: tuple[str, ...]
    support_type: str = "STANDARD"
    # The AZ of each of `subnets` (same order), from the plan; and the VPC's key.
    subnet_zones: tuple[str, ...] = ()
    vpc: str | None = None

    type = "eks:cluster"
    iam_actions = (
        "eks:DescribeCluster",
        "eks:CreateCluster",
        "eks:UpdateClusterConfig",
        "eks:UpdateClusterVersion",
        "eks:DescribeUpdate",
        "eks:TagResource",
        "eks:DeleteCluster",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "kms:DescribeKey",
        "kms:CreateGrant",
    )
    # CreateCluster makes EKS's service-linked role when the account lacks it.
    linked_services = ("eks.amazonaws.com",)
    create_seconds = 570.0
    delete_seconds = 150.0
    replace_on = frozenset({"name", "role_arn", "kms_key_arn", "vpc_id"})
    guarded = True

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        eks = ctx.aws.client("eks")
        lives = []
        # A plan's cluster is always named after the plan (`cluster_name`), so it is described
        # by name: no ListClusters, and no DescribeCluster for every other cluster of the
        # account. The tags still decide ownership.
        names = {cluster_name(ctx.plan_name)} | {n.name for n in ctx.nodes.values() if isinstance(n, cls)}
        for name in sorted(names):
            try:
                cluster = eks.describe_cluster(name=name)["cluster"]
            except ClientError as exc:
                if is_not_found(exc):
                    continue
                raise
            tags = cluster.get("tags") or {}
            key = owned_key(tags, ctx.plan_name)
            if key is None or cluster.get("status") == "DELETING":
                continue
            fields = cls.observe(cluster)
            fields["control_plane_zones"] = _zones_of(ctx, fields["subnet_ids"])
            lives.append(
                Live(key=key, id=name, tags=tags, raw=cluster, fields=fields, outputs=cls.cluster_outputs(cluster))
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        cluster = item  # DescribeCluster's cluster
        vpc = cluster.get("resourcesVpcConfig", {})
        enabled = [
            t
            for entry in cluster.get("logging", {}).get("clusterLogging", [])
            if entry.get("enabled")
            for t in entry.get("types", [])
        ]
        keys = [
            e.get("provider", {}).get("keyArn")
            for e in cluster.get("encryptionConfig", [])
            if "secrets" in e.get("resources", [])
        ]
        public = bool(vpc.get("endpointPublicAccess"))
        return {
            "name": cluster["name"],
            "version": cluster.get("version"),
            "role_arn": cluster.get("roleArn"),
            "subnet_ids": sorted(vpc.get("subnetIds", [])),
            "security_group_ids": sorted(vpc.get("securityGroupIds", [])),
            "endpoint_private": bool(vpc.get("endpointPrivateAccess")),
            "endpoint_public": public,
            "public_cidrs": sorted(vpc.get("publicAccessCidrs", [])) if public else [],
            "log_types": sorted(enabled),
            "kms_key_arn": keys[0] if keys else None,
            "authentication_mode": cluster.get("accessConfig", {}).get("authenticationMode"),
            "support_type": (cluster.get("upgradePolicy") or {}).get("supportType"),
            "vpc_id": vpc.get("vpcId"),
        }

    @staticmethod
    def cluster_outputs(cluster: dict[str, Any]) -> dict[str, Any]:
        return {
            "arn": cluster.get("arn"),
            "endpoint": cluster.get("endpoint"),
            "certificate_authority": cluster.get("certificateAuthority", {}).get("data"),
            "oidc_issuer": cluster.get("identity", {}).get("oidc", {}).get("issuer"),
            "cluster_security_group_id": cluster.get("resourcesVpcConfig", {}).get("clusterSecurityGroupId"),
            "version": cluster.get("version"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "role_arn": refs.get(self.role, "arn"),
            "subnet_ids": sorted((refs.id(s) for s in self.subnets), key=str),
            "security_group_ids": [refs.id(self.security_group)],
            "endpoint_private": self.endpoint_private,
            "endpoint_public": self.endpoint_public,
            "public_cidrs": sorted(self.public_cidrs or ("0.0.0.0/0",)) if self.endpoint_public else [],
            "log_types": sorted(self.log_types),
            "kms_key_arn": refs.get(self.kms_key, "arn"),
            "authentication_mode": "API",
            "support_type": self.support_type,
            **({"vpc_id": refs.id(self.vpc)} if self.vpc else {}),
        }

    # -- the control plane keeps its AZs -----------------------------------------------------
    def _kept_zones(self, have: Live) -> set[str] | None:
        """The AZs the live control plane is in, if the plan still has a subnet in each."""
        zones = set(have.fields.get("control_plane_zones") or ())
        if not zones or len(self.subnet_zones) != len(self.subnets) or not zones <= set(self.subnet_zones):
            return None
        return zones

    def fit(self, refs: Refs, want: dict[str, Any], have: Live) -> dict[str, Any]:
        zones = self._kept_zones(have)
        if zones is None:
            return want
        # The plan's private subnets in the cluster's AZs; those in a newer AZ serve nodes only.
        ids = [refs.id(key) for key, zone in zip(self.subnets, self.subnet_zones, strict=False) if zone in zones]
        return {**want, "subnet_ids": sorted(ids, key=str)}

    def needs_replacement(self, changed: set[str], have: Live) -> bool:
        if "subnet_ids" in changed and have.fields.get("control_plane_zones") and self._kept_zones(have) is None:
            return True
        return super().needs_replacement(changed, have)

    def replace_reason(self, changed: set[str], have: Live) -> str:
        if changed & self.replace_on:
            return super().replace_reason(changed, have)
        zones = sorted(have.fields.get("control_plane_zones") or ())
        dropped = sorted(set(zones) - set(self.subnet_zones))
        return (
            f"EKS keeps the AZs a cluster was created in ({', '.join(zones)}); the plan has no private subnet "
            f"in {', '.join(dropped)} any more"
        )

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        vpc_config: dict[str, Any] = {
            "subnetIds": want["subnet_ids"],
            "securityGroupIds": want["security_group_ids"],
            "endpointPrivateAccess": self.endpoint_private,
            "endpointPublicAccess": self.endpoint_public,
        }
        if self.endpoint_public:
            vpc_config["publicAccessCidrs"] = want["public_cidrs"]
        eks = ctx.aws.client("eks")

        def create() -> dict[str, Any]:
            return eks.create_cluster(
                name=self.name,
                version=self.version,
                roleArn=want["role_arn"],
                resourcesVpcConfig=vpc_config,
                logging={"clusterLogging": [{"types": list(self.log_types), "enabled": True}]},
                encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": want["kms_key_arn"]}}],
                accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
                upgradePolicy={"supportType": self.support_type},
                tags=ctx.tags_for(self),
                # Salted with the subnets: after a destroy, a new cluster is not the old token's.
                clientRequestToken=idempotency_token(ctx.plan_name, self.key, *want["subnet_ids"]),
            )["cluster"]

        try:
            # EKS says InvalidParameterException ("role ... cannot be assumed") while a new
            # role propagates through IAM.
            cluster = eventually(
                ctx,
                create,
                codes={"InvalidParameterException"},
                key=self.key,
                what="cluster role not usable yet",
                message_contains="assume",
                budget=180,
            )
        except ClientError as exc:
            if error_code(exc) == "ResourceInUseException":
                raise PermanentError(
                    f"a cluster named {self.name} exists but does not carry this plan's tags",
                    key=self.key,
                    code="ResourceInUseException",
                    hint="provisioner never adopts resources it did not create; rename or delete that cluster",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        return self.settle(
            ctx,
            Live(
                key=self.key,
                id=self.name,
                tags=ctx.tags_for(self),
                raw=cluster,
                fields=self.observe(cluster),
                outputs=self.cluster_outputs(cluster),
            ),
        )

    def report(self, have: Live) -> dict[str, Any]:
        status = (have.raw or {}).get("status")
        if status in (None, "ACTIVE"):
            return {}
        return {
            "status": status,
            "note": "apply waits for ACTIVE, reads the cluster again and updates what still differs",
        }

    def settle(self, ctx: RunContext, have: Live) -> Live:
        was_busy = (have.raw or {}).get("status") not in (None, "ACTIVE")
        latest = self._await_active(ctx, have)
        if was_busy:
            # Discovery read the cluster while an update ran: compare again now it is done.
            fresh = Live(
                key=have.key, id=have.id, tags=have.tags, raw=latest, fields=self.observe(latest), outputs=have.outputs
            )
            want = self.desired(ctx.refs)
            diff = {k: {"from": fresh.fields.get(k), "to": v} for k, v in want.items() if fresh.fields.get(k) != v}
            if diff and not self.needs_replacement(set(diff), fresh):
                ctx.progress(
                    self.key,
                    f"cluster changed while it was {have.raw.get('status')}: updating {', '.join(sorted(diff))}",
                )
                have = self.update(ctx, want, fresh, diff)
                latest = self._await_active(ctx, have)
        have.raw = dict(latest)
        have.outputs = self.cluster_outputs(latest)
        return have

    def _await_active(self, ctx: RunContext, have: Live) -> dict[str, Any]:
        poller = ctx.aws.poller("eks")
        latest: dict[str, Any] = {}

        def state() -> str:
            latest.clear()
            latest.update(poller.describe_cluster(name=have.id)["cluster"])
            return str(latest["status"])

        # Guided by the create's p50 only while the cluster is being created; an update's length
        # is unknown here, so it gets the plain back-off.
        wait_for(
            ctx,
            key=self.key,
            what=f"cluster {have.id}",
            read_state=state,
            done={"ACTIVE"},
            failed={"FAILED", "DELETING"},
            timeout=CREATE_TIMEOUT,
            expected=self.create_seconds if (have.raw or {}).get("status") == "CREATING" else None,
            already=age((have.raw or {}).get("createdAt")),
        )
        return latest

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if (have.raw or {}).get("status") not in (None, "ACTIVE"):
            # EKS refuses an update while another runs, and what discovery read is stale.
            latest = self._await_active(ctx, have)
            have = Live(
                key=have.key,
                id=have.id,
                tags=have.tags,
                raw=latest,
                fields=self.observe(latest),
                outputs=self.cluster_outputs(latest),
            )
            changed_fields = field_changes(diff)
            diff = {
                **{k: v for k, v in diff.items() if k not in changed_fields},
                **{k: {"from": have.fields.get(k), "to": v} for k, v in want.items() if have.fields.get(k) != v},
            }
        if {"subnet_ids", "security_group_ids"} & set(diff):
            # One VpcConfigUpdate for both; endpoint access is a separate kind of update.
            ctx.progress(
                self.key, "moving the control plane's network interfaces to the plan's subnets and security groups"
            )
            update = eks_call(
                ctx,
                self.key,
                "update_cluster_config",
                name=have.id,
                resourcesVpcConfig={"subnetIds": want["subnet_ids"], "securityGroupIds": want["security_group_ids"]},
            )["update"]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=CONFIG_UPDATE_SECONDS)
        if {"endpoint_private", "endpoint_public", "public_cidrs"} & set(diff):
            vpc_config: dict[str, Any] = {
                "endpointPrivateAccess": self.endpoint_private,
                "endpointPublicAccess": self.endpoint_public,
            }
            if self.endpoint_public:
                vpc_config["publicAccessCidrs"] = want["public_cidrs"]
            update = eks_call(ctx, self.key, "update_cluster_config", name=have.id, resourcesVpcConfig=vpc_config)[
                "update"
            ]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=CONFIG_UPDATE_SECONDS)
        if "log_types" in diff:
            disabled = sorted(set(have.fields.get("log_types") or []) - set(want["log_types"]))
            entries = [{"types": want["log_types"], "enabled": True}] + (
                [{"types": disabled, "enabled": False}] if disabled else []
            )
            update = eks_call(
                ctx, self.key, "update_cluster_config", name=have.id, logging={"clusterLogging": entries}
            )["update"]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=CONFIG_UPDATE_SECONDS)
        if "authentication_mode" in diff:
            update = eks_call(
                ctx, self.key, "update_cluster_config", name=have.id, accessConfig={"authenticationMode": "API"}
            )["update"]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=CONFIG_UPDATE_SECONDS)
        if "support_type" in diff:
            update = eks_call(
                ctx, self.key, "update_cluster_config", name=have.id, upgradePolicy={"supportType": self.support_type}
            )["update"]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=CONFIG_UPDATE_SECONDS)
        if "version" in diff:
            self._upgrade(ctx, have, want["version"])
        if tags_changed(diff):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        have.fields.update({k: want[k] for k in field_changes(diff)})
        return have

    def _upgrade(self, ctx: RunContext, have: Live, target: str) -> None:
        current = have.fields["version"]
        major, minor = (int(p) for p in current.split("."))
        t_major, t_minor = (int(p) for p in target.split("."))
        if (t_major, t_minor) < (major, minor):
            raise PermanentError(
                f"EKS cannot downgrade {current} to {target}",
                key=self.key,
                hint="set the plan's eks.version back to the running version or later",
            )
        while (major, minor) < (t_major, t_minor):
            minor += 1
            step = f"{major}.{minor}"
            ctx.progress(self.key, f"upgrading control plane {current} -> {step}")
            update = eks_call(ctx, self.key, "update_cluster_version", name=have.id, version=step)["update"]
            wait_for_update(ctx, self.key, have.id, update["id"], expected=VERSION_UPDATE_SECONDS)
            current = step
            self._follow_nodegroups(ctx, have.id, step)

    def _follow_nodegroups(self, ctx: RunContext, cluster: str, version: str) -> None:
        """Bring this plan's node groups to the control plane's new version before its next
        step (EKS refuses a step while a node group lags a minor version)."""
        eks = ctx.aws.client("eks")
        for name in eks.list_nodegroups(clusterName=cluster).get("nodegroups", []):
            group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            if owned_key(group.get("tags") or {}, ctx.plan_name) is None or group.get("version") == version:
                continue
            ctx.progress(self.key, f"node group {name} follows the control plane: {group.get('version')} -> {version}")
            update = eks_call(
                ctx, self.key, "update_nodegroup_version", clusterName=cluster, nodegroupName=name, version=version
            )["update"]
            wait_for_update(ctx, self.key, cluster, update["id"], expected=NODEGROUP_UPDATE_SECONDS, nodegroupName=name)

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        return "a new cluster starts empty: every workload, in-cluster object and load balancer must be made again"

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        requested = ctx.clock.now() if ctx.clock else 0.0
        try:
            ctx.aws.client("eks").delete_cluster(name=have.id)
        except ClientError as exc:
            if is_not_found(exc):
                return
            if error_code(exc) == "ResourceInUseException":
                raise TemporaryError(
                    "node groups or add-ons are still deleting", key=have.key, code="ResourceInUseException", delay=10
                ) from exc
            raise as_provisioner_error(exc, key=have.key) from exc
        poller = ctx.aws.poller("eks")

        def state() -> str | None:
            try:
                return poller.describe_cluster(name=have.id)["cluster"]["status"]
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise

        wait_for(
            ctx,
            key=have.key,
            what=f"cluster {have.id} deletion",
            read_state=state,
            done={None},
            failed={"FAILED"},
            timeout=DELETE_TIMEOUT,
            expected=cls.delete_seconds,
            already=since(ctx, requested),
        )


def _zones_of(ctx: RunContext, subnet_ids: list[str]) -> list[str]:
    """The AZs of a cluster's subnets: from the plan's subnets, read once per run for every
    kind; a subnet the plan does not tag is described by id (empty if that fails)."""
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in describe_plan_ec2(ctx, "describe_subnets", "Subnets")}
    missing = [s for s in subnet_ids if s not in zones]
    if missing:
        try:
            for subnet in ctx.aws.client("ec2").describe_subnets(SubnetIds=missing)["Subnets"]:
                zones[subnet["SubnetId"]] = subnet["AvailabilityZone"]
        except ClientError:
            return []
    return sorted({zones[s] for s in subnet_ids if s in zones})
