"""eks:access-entry: who may use the cluster, by IAM principal (no aws-auth ConfigMap).

Each entry carries its access policy associations as a field, so a policy detached by hand
shows as an update. EC2_LINUX entries (node roles) take no policies and no groups: EKS maps
them to the node identity itself. Principals are given as an ARN, as the key of an iam:role
node, or as "@caller" (the identity running the tool).

Entries are matched by principal, not only by their key tag, because EKS allows one entry per
principal and because the operator changes from run to run:

- "@caller" is the role's real IAM ARN (`AwsSession.caller_arn` resolves an assumed-role
  session to its role, path included: IAM Identity Center roles live under
  `/aws-reserved/sso.amazonaws.com/`), never the STS session ARN, which EKS refuses.
- The operator's node (`eks/access/tool-admin`) owns the entry of whoever runs the tool now.
  Entries it made for earlier operators are kept: another engineer's apply must not lock out
  the previous one. They are not adopted, updated or deleted by apply; `destroy` removes them
  with the cluster (EKS deletes a cluster's entries with it). To revoke one earlier, delete
  it by hand (`aws eks delete-access-entry`); apply never re-creates it.
- A principal both running the tool and listed in `eks.admin_roles` gets one entry, made by
  the admin_roles node with the union of both nodes' policies; the operator's node then
  stands for it without an entry of its own (its record says `covered_by`).

IAM propagation: CreateAccessEntry right after the tool created the principal's role answers
InvalidParameterException ("invalid principal") until IAM has propagated the role; that is
retried as eventual consistency (latency-model.md: p95 120 s) for roles the plan makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.retry import IAM_PROPAGATION_SECONDS, eventually
from provisioner.aws.tags import owned_key
from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.listed import Listing
from provisioner.steps.eks.in_cluster import InCluster
from provisioner.steps.eks.updates import cluster_token, eks_call

CALLER = "@caller"
# Access policies are AWS-owned ARNs in the session's partition: a name here, the ARN built
# with `access_policy_arn` (policies of the same name exist in every partition).
CLUSTER_ADMIN = "AmazonEKSClusterAdminPolicy"
# Entry types that take no access policies (AWS docs, "Create access entries").
NODE_ENTRY_TYPES = frozenset({"EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "HYPERPOD_LINUX"})


def access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


@dataclass(frozen=True)
class PolicyAssociation:
    policy: str  # an access policy's name (AmazonEKSEditPolicy) or ARN
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide

    def as_field(self, refs: Refs) -> list[Any]:
        arn = (
            self.policy
            if self.policy.startswith("arn:")
            else access_policy_arn(refs.get("@plan", "partition"), self.policy)
        )
        return [arn, "namespace" if self.namespaces else "cluster", sorted(self.namespaces)]


@dataclass(kw_only=True)
class AccessEntry(InCluster):
    cluster: str
    principal: str
    entry_type: str = "STANDARD"
    policies: tuple[PolicyAssociation, ...] = ()
    # "@caller" only: when the caller is one of these ARNs (the plan's admin_roles), the node
    # of that ARN makes the one entry and this node stands for it (see the module docstring).
    defer_to: dict[str, str] = field(default_factory=dict)
    # Static principals only: policies the entry also carries when its principal is the caller
    # (the operator node's, so the one entry has the union of both).
    caller_policies: tuple[PolicyAssociation, ...] = ()

    type = "eks:access-entry"
    iam_actions = (
        "eks:ListAccessEntries",
        "eks:DescribeAccessEntry",
        "eks:ListAssociatedAccessPolicies",
        "eks:CreateAccessEntry",
        "eks:AssociateAccessPolicy",
        "eks:DisassociateAccessPolicy",
        "eks:TagResource",
        "eks:DeleteAccessEntry",
        "iam:GetRole",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"cluster", "principal_arn", "type"})
    listing = Listing(
        service="eks",
        list_operation="list_access_entries",
        list_key="accessEntries",  # the principals' ARNs, not objects
        describe_operation="describe_access_entry",
        describe_key="accessEntry",
        id_param="principalArn",
        scope_param="clusterName",
        live_id="{clusterName}|{principalArn}",
    )

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        caller = _caller(ctx)
        static = {
            n.principal: n.key
            for n in ctx.nodes.values()
            if isinstance(n, AccessEntry) and n.principal.startswith("arn:")
        }
        operators = {n.key: n for n in ctx.nodes.values() if isinstance(n, AccessEntry) and n.principal == CALLER}
        lives = []
        for entry in cls.described(ctx):
            key = owned_key(cls.tags_of(entry), ctx.plan_name)
            if key is None:
                continue
            principal = entry["principalArn"]
            # One entry per principal: it belongs to the node that names its principal...
            if principal in static:
                key = static[principal]
            elif principal == caller and operators:
                key = next(iter(operators))
            elif key in operators:
                continue  # ...and an earlier operator's entry is kept as it is (docstring)
            lives.append(cls.live_of(key, cls.enrich(ctx, entry)))
            for operator in operators.values():
                if principal == caller and caller in operator.defer_to:
                    lives.append(operator.covered(ctx, caller, key))
        return lives

    @classmethod
    def enrich(cls, ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
        # EKS refuses access policies on node entries (EC2_LINUX and the like map to the node
        # identity), so there is nothing to list for them.
        if item.get("type") in NODE_ENTRY_TYPES:
            return {**item, "associatedAccessPolicies": []}
        associated = describe_all(
            ctx.aws.client("eks"),
            "list_associated_access_policies",
            "associatedAccessPolicies",
            clusterName=item["clusterName"],
            principalArn=item["principalArn"],
        )
        return {**item, "associatedAccessPolicies": associated}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeAccessEntry's entry with the ListAssociatedAccessPolicies answer
        under `associatedAccessPolicies` (none yet right after a create)."""
        policies = sorted(
            (
                [p["policyArn"], p["accessScope"]["type"], sorted(p["accessScope"].get("namespaces", []))]
                for p in item.get("associatedAccessPolicies") or []
            ),
            key=str,
        )
        return {
            "cluster": item["clusterName"],
            "principal_arn": item["principalArn"],
            "type": item.get("type"),
            "policies": policies,
        }

    @classmethod
    def outputs_of(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"arn": item.get("accessEntryArn")}

    def covered(self, ctx: RunContext, caller: str, by: str) -> Live:
        """The operator node's record when another node's entry is the caller's (no entry of its own)."""
        return Live(
            key=self.key,
            id=f"{by}|{caller}",
            tags=ctx.tags_for(self),
            fields={"principal_arn": caller, "covered_by": by},
        )

    def principal_arn(self, refs: Refs) -> Any:
        if self.principal == CALLER:
            return refs.get("@plan", "caller_arn")
        if self.principal.startswith("arn:"):
            return self.principal
        return refs.get(self.principal, "arn")

    def desired(self, refs: Refs) -> dict[str, Any]:
        principal = self.principal_arn(refs)
        if self.principal == CALLER and principal in self.defer_to:
            return {"principal_arn": principal, "covered_by": self.defer_to[principal]}
        policies = {str(p.as_field(refs)): p.as_field(refs) for p in self.policies}
        if self.caller_policies and principal == _refs_caller(refs):
            policies.update({str(p.as_field(refs)): p.as_field(refs) for p in self.caller_policies})
        return {
            "cluster": refs.id(self.cluster),
            "principal_arn": principal,
            "type": self.entry_type,
            "policies": sorted(policies.values(), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        if "covered_by" in want:
            return self.covered(ctx, want["principal_arn"], want["covered_by"])
        eks = ctx.aws.client("eks")

        def create() -> dict[str, Any]:
            return eks.create_access_entry(
                clusterName=want["cluster"],
                principalArn=want["principal_arn"],
                type=self.entry_type,
                tags=ctx.tags_for(self),
                clientRequestToken=cluster_token(ctx, self.cluster, self.key, want["principal_arn"], self.entry_type),
            )["accessEntry"]

        try:
            if self.principal.startswith("arn:") or self.principal == CALLER:
                entry = create()
            else:
                # A role this plan made: EKS says "invalid principal" until IAM has propagated it.
                entry = eventually(
                    ctx,
                    create,
                    codes={"InvalidParameterException"},
                    key=self.key,
                    what="role not visible to EKS yet",
                    message_contains="invalid principal",
                    budget=IAM_PROPAGATION_SECONDS,
                )
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        live = self.live_of(self.key, entry, tags=ctx.tags_for(self))
        return self.update(ctx, want, live, {"policies": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "covered_by" in want or "covered_by" in have.fields:
            return self.covered(ctx, want["principal_arn"], want["covered_by"]) if "covered_by" in want else have
        cluster, principal = have.id.split("|", 1)
        if "policies" in diff:
            current = have.fields.get("policies") or []
            for policy in want["policies"]:
                if policy not in current:
                    arn, scope, namespaces = policy
                    access_scope: dict[str, Any] = {"type": scope}
                    if namespaces:
                        access_scope["namespaces"] = namespaces
                    eks_call(
                        ctx,
                        self.key,
                        "associate_access_policy",
                        clusterName=cluster,
                        principalArn=principal,
                        policyArn=arn,
                        accessScope=access_scope,
                    )
            wanted_arns = {p[0] for p in want["policies"]}
            for arn, _, _ in current:
                if arn not in wanted_arns:
                    eks_call(
                        ctx,
                        self.key,
                        "disassociate_access_policy",
                        clusterName=cluster,
                        principalArn=principal,
                        policyArn=arn,
                    )
            have.fields["policies"] = want["policies"]
        if tags_changed(diff) and have.outputs.get("arn"):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        if "covered_by" in have.fields:
            return  # the entry is another node's
        cluster, principal = have.id.split("|", 1)
        try:
            ctx.aws.client("eks").delete_access_entry(clusterName=cluster, principalArn=principal)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc


def _refs_caller(refs: Refs) -> Any:
    try:
        return refs.get("@plan", "caller_arn")
    except KeyError:
        return None


def _caller(ctx: RunContext) -> Any:
    caller = _refs_caller(ctx.refs)
    return caller if isinstance(caller, str) else getattr(ctx.aws, "caller_arn", None)
