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
  one minor version per UpdateClusterVersion, as EKS requires; each update is awaited.
- CreateCluster -> ACTIVE takes ~9.5 min (latency-model.md), polled every <= 5 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.waiters import wait_for
from provisioner.constants import TAG_PLAN, idempotency_token
from provisioner.aws.tags import owned_key, key_of
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext

CREATE_TIMEOUT = 1800.0  # p95 900 s
DELETE_TIMEOUT = 1200.0  # p95 600 s
UPDATE_TIMEOUT = 3600.0  # a version update takes tens of minutes


def eks_call(ctx: RunContext, key: str, operation: str, **params: Any) -> dict[str, Any]:
    try:
        return getattr(ctx.aws.client("eks"), operation)(**params)
    except ClientError as exc:
        raise as_provisioner_error(exc, key=key) from exc


def wait_for_update(ctx: RunContext, key: str, cluster: str, update_id: str, **scope: str) -> None:
    """Poll DescribeUpdate until the update succeeds (scope: nodegroupName= or addonName=)."""
    poller = ctx.aws.poller("eks")

    def state() -> str:
        return poller.describe_update(name=cluster, updateId=update_id, **scope)["update"]["status"]

    def errors() -> str:
        update = poller.describe_update(name=cluster, updateId=update_id, **scope)["update"]
        return "; ".join(f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in update.get("errors", []))

    wait_for(ctx, key=key, what=f"update {update_id}", read_state=state, done={"Successful"},
             failed={"Failed", "Cancelled"}, timeout=UPDATE_TIMEOUT, describe_failure=errors)


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

    type = "eks:cluster"
    iam_actions = ("eks:ListClusters", "eks:DescribeCluster", "eks:CreateCluster", "eks:UpdateClusterConfig", "eks:UpdateClusterVersion", "eks:DescribeUpdate", "eks:TagResource", "eks:DeleteCluster", "iam:PassRole", "iam:CreateServiceLinkedRole", "kms:DescribeKey", "kms:CreateGrant")
    create_seconds = 570.0
    delete_seconds = 150.0
    replace_on = frozenset({"name", "role_arn", "subnet_ids", "security_group_ids", "kms_key_arn"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        eks = ctx.aws.client("eks")
        lives = []
        for name in eks.list_clusters().get("clusters", []):
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
            lives.append(Live(key=key, id=name, tags=tags, raw=cluster, fields=cls.observe(cluster), outputs=cls.cluster_outputs(cluster)))
        return lives

    @staticmethod
    def observe(cluster: dict[str, Any]) -> dict[str, Any]:
        vpc = cluster.get("resourcesVpcConfig", {})
        enabled = [t for entry in cluster.get("logging", {}).get("clusterLogging", []) if entry.get("enabled") for t in entry.get("types", [])]
        keys = [e.get("provider", {}).get("keyArn") for e in cluster.get("encryptionConfig", []) if "secrets" in e.get("resources", [])]
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
        }

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
                name=self.name, version=self.version, roleArn=want["role_arn"], resourcesVpcConfig=vpc_config,
                logging={"clusterLogging": [{"types": list(self.log_types), "enabled": True}]},
                encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": want["kms_key_arn"]}}],
                accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
                tags=ctx.tags_for(self),
                # Salted with the subnets: after a destroy, a new cluster is not the old token's.
                clientRequestToken=idempotency_token(ctx.plan_name, self.key, *want["subnet_ids"]),
            )["cluster"]

        try:
            # EKS says InvalidParameterException ("role ... cannot be assumed") while a new
            # role propagates through IAM.
            cluster = eventually(ctx, create, codes={"InvalidParameterException"}, key=self.key,
                                 what="cluster role not usable yet", message_contains="assume", budget=180)
        except ClientError as exc:
            if error_code(exc) == "ResourceInUseException":
                raise PermanentError(f"a cluster named {self.name} exists but does not carry this plan's tags",
                                     key=self.key, code="ResourceInUseException",
                                     hint="provisioner never adopts resources it did not create; rename or delete that cluster") from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        return self.settle(ctx, Live(key=self.key, id=self.name, tags=ctx.tags_for(self), raw=cluster,
                                     fields=self.observe(cluster), outputs=self.cluster_outputs(cluster)))

    def settle(self, ctx: RunContext, have: Live) -> Live:
        poller = ctx.aws.poller("eks")
        latest: dict[str, Any] = {}

        def state() -> str:
            latest.update(poller.describe_cluster(name=have.id)["cluster"])
            return latest["status"]

        wait_for(ctx, key=self.key, what=f"cluster {have.id}", read_state=state, done={"ACTIVE"},
                 failed={"FAILED", "DELETING"}, timeout=CREATE_TIMEOUT,
                 expected=self.create_seconds if (have.raw or {}).get("status") == "CREATING" else None)
        have.raw = dict(latest)
        have.outputs = self.cluster_outputs(latest)
        return have

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if {"endpoint_private", "endpoint_public", "public_cidrs"} & set(diff):
            vpc_config: dict[str, Any] = {"endpointPrivateAccess": self.endpoint_private, "endpointPublicAccess": self.endpoint_public}
            if self.endpoint_public:
                vpc_config["publicAccessCidrs"] = want["public_cidrs"]
            update = eks_call(ctx, self.key, "update_cluster_config", name=have.id, resourcesVpcConfig=vpc_config)["update"]
            wait_for_update(ctx, self.key, have.id, update["id"])
        if "log_types" in diff:
            disabled = sorted(set(have.fields.get("log_types") or []) - set(want["log_types"]))
            entries = [{"types": want["log_types"], "enabled": True}] + ([{"types": disabled, "enabled": False}] if disabled else [])
            update = eks_call(ctx, self.key, "update_cluster_config", name=have.id, logging={"clusterLogging": entries})["update"]
            wait_for_update(ctx, self.key, have.id, update["id"])
        if "authentication_mode" in diff:
            update = eks_call(ctx, self.key, "update_cluster_config", name=have.id, accessConfig={"authenticationMode": "API"})["update"]
            wait_for_update(ctx, self.key, have.id, update["id"])
        if "version" in diff:
            self._upgrade(ctx, have, want["version"])
        if any(f.startswith("tags.") for f in diff):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        have.fields.update({k: want[k] for k in diff if not k.startswith("tags.")})
        return have

    def _upgrade(self, ctx: RunContext, have: Live, target: str) -> None:
        current = have.fields["version"]
        major, minor = (int(p) for p in current.split("."))
        t_major, t_minor = (int(p) for p in target.split("."))
        if (t_major, t_minor) < (major, minor):
            raise PermanentError(f"EKS cannot downgrade {current} to {target}", key=self.key,
                                 hint="set the plan's eks.version back to the running version or later")
        while (major, minor) < (t_major, t_minor):
            minor += 1
            step = f"{major}.{minor}"
            ctx.progress(self.key, f"upgrading control plane {current} -> {step}")
            update = eks_call(ctx, self.key, "update_cluster_version", name=have.id, version=step)["update"]
            wait_for_update(ctx, self.key, have.id, update["id"])
            current = step

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("eks").delete_cluster(name=have.id)
        except ClientError as exc:
            if is_not_found(exc):
                return
            if error_code(exc) == "ResourceInUseException":
                from provisioner.engine import TemporaryError

                raise TemporaryError("node groups or add-ons are still deleting", key=have.key, code="ResourceInUseException", delay=10) from exc
            raise as_provisioner_error(exc, key=have.key) from exc
        poller = ctx.aws.poller("eks")

        def state() -> str | None:
            try:
                return poller.describe_cluster(name=have.id)["cluster"]["status"]
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise

        wait_for(ctx, key=have.key, what=f"cluster {have.id} deletion", read_state=state, done={None},  # type: ignore[arg-type]
                 failed={"FAILED"}, timeout=DELETE_TIMEOUT, expected=cls.delete_seconds)
