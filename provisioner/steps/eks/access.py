"""eks:access-entry: who may use the cluster, by IAM principal (no aws-auth ConfigMap).

Each entry carries its access policy associations as a field, so a policy detached by hand
shows as an update. EC2_LINUX entries (node roles) take no policies and no groups: EKS maps
them to the node identity itself. Principals are given as an ARN, as the key of an iam:role
node, or as "@caller" (the identity running the tool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import owned_key, key_of
from provisioner.constants import TAG_PLAN
from provisioner.engine import Live, Refs, Resource, RunContext
from provisioner.steps.eks.clusters import Cluster, eks_call

CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Entry types that take no access policies (AWS docs, "Create access entries").
NODE_ENTRY_TYPES = frozenset({"EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "HYPERPOD_LINUX"})


@dataclass(frozen=True)
class PolicyAssociation:
    policy_arn: str
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide

    def as_field(self) -> list[Any]:
        return [self.policy_arn, "namespace" if self.namespaces else "cluster", sorted(self.namespaces)]


@dataclass(kw_only=True)
class AccessEntry(Resource):
    cluster: str
    principal: str
    entry_type: str = "STANDARD"
    policies: tuple[PolicyAssociation, ...] = ()

    type = "eks:access-entry"
    iam_actions = ("eks:ListAccessEntries", "eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies", "eks:CreateAccessEntry", "eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy", "eks:TagResource", "eks:DeleteAccessEntry")
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"cluster", "principal_arn", "type"})

    def container(self) -> str | None:
        return self.cluster  # it lives in the cluster, and goes with it

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        eks = ctx.aws.client("eks")
        lives = []
        for cluster in ctx.live(Cluster):
            for principal in describe_all(eks, "list_access_entries", "accessEntries", clusterName=cluster.id):
                try:
                    entry = eks.describe_access_entry(clusterName=cluster.id, principalArn=principal)["accessEntry"]
                except ClientError as exc:
                    if is_not_found(exc):
                        continue
                    raise
                tags = entry.get("tags") or {}
                key = owned_key(tags, ctx.plan_name)
                if key is None:
                    continue
                # EKS refuses access policies on node entries (EC2_LINUX and the like map to the
                # node identity), so there is nothing to list for them.
                associated = [] if entry.get("type") in NODE_ENTRY_TYPES else describe_all(
                    eks, "list_associated_access_policies", "associatedAccessPolicies", clusterName=cluster.id, principalArn=principal)
                policies = sorted(
                    ([p["policyArn"], p["accessScope"]["type"], sorted(p["accessScope"].get("namespaces", []))] for p in associated),
                    key=str,
                )
                lives.append(Live(key=key, id=f"{cluster.id}|{principal}", tags=tags, raw=entry,
                                  fields={"cluster": cluster.id, "principal_arn": principal, "type": entry.get("type"),
                                          "policies": policies},
                                  outputs={"arn": entry.get("accessEntryArn")}))
        return lives

    def principal_arn(self, refs: Refs) -> Any:
        if self.principal == "@caller":
            return refs.get("@plan", "caller_arn")
        if self.principal.startswith("arn:"):
            return self.principal
        return refs.get(self.principal, "arn")

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "cluster": refs.id(self.cluster),
            "principal_arn": self.principal_arn(refs),
            "type": self.entry_type,
            "policies": sorted((p.as_field() for p in self.policies), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        entry = eks_call(ctx, self.key, "create_access_entry", clusterName=want["cluster"],
                         principalArn=want["principal_arn"], type=self.entry_type, tags=ctx.tags_for(self))["accessEntry"]
        live = Live(key=self.key, id=f"{want['cluster']}|{want['principal_arn']}", tags=ctx.tags_for(self), raw=entry,
                    fields={**want, "policies": []}, outputs={"arn": entry.get("accessEntryArn")})
        return self.update(ctx, want, live, {"policies": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        cluster, principal = have.id.split("|", 1)
        if "policies" in diff:
            current = have.fields.get("policies") or []
            for policy in want["policies"]:
                if policy not in current:
                    arn, scope, namespaces = policy
                    access_scope: dict[str, Any] = {"type": scope}
                    if namespaces:
                        access_scope["namespaces"] = namespaces
                    eks_call(ctx, self.key, "associate_access_policy", clusterName=cluster, principalArn=principal,
                             policyArn=arn, accessScope=access_scope)
            wanted_arns = {p[0] for p in want["policies"]}
            for arn, _, _ in current:
                if arn not in wanted_arns:
                    eks_call(ctx, self.key, "disassociate_access_policy", clusterName=cluster, principalArn=principal, policyArn=arn)
            have.fields["policies"] = want["policies"]
        if any(f.startswith("tags.") for f in diff) and have.outputs.get("arn"):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cluster, principal = have.id.split("|", 1)
        try:
            ctx.aws.client("eks").delete_access_entry(clusterName=cluster, principalArn=principal)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc

