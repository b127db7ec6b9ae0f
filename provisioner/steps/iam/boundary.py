"""iam:policy `iam/boundary`: the permissions boundary of every role the tool creates.

The tool must create roles and give them policies (EKS, nodes, Karpenter, flow logs, CI), so
whoever holds its own policy (`provisioner iam-policy`) could otherwise make a role with any
policy that trusts them. The boundary caps what any of those roles can ever do, whatever is
attached to it: `iam-policy` allows CreateRole and PutRolePermissionsBoundary only with this
boundary (condition `iam:PermissionsBoundary`), and denies removing it or changing this policy.

What the boundary allows (the ceiling; each role's own policies grant the real, smaller set):
the services the tool's roles use (EKS control plane and nodes: EC2, ELB, Auto Scaling, KMS,
ECR, EKS, SSM, Pod Identity; Karpenter: also SQS, Pricing, SSM parameters, zonal shift; flow logs: Logs;
CI: ECR, STS, EKS). Of IAM, only what Karpenter's controller needs (instance profiles, and
PassRole of the plans' roles under /provisioner/) and the service-linked role AWS's managed
EKS policy creates for load balancers. Everything else of IAM is outside the ceiling (no user,
role or policy writes), and an explicit deny covers changing or removing a boundary, this
policy, and any Organizations or account action.

- One policy per account, shared by every plan that acts in it (environments may share an
  account), with a deterministic name under /provisioner/. It belongs to the account, not to a
  plan: it carries only `ManagedBy`, is found by name, is never an orphan, and destroy keeps it
  (other plans' roles may use it, and deleting it would need iam:DeletePolicy, which would let
  the holder of the tool's policy delete it and make a permissive one of the same name).
- It is made before any role (every Role depends on it). A boundary whose document differs
  from this version's is updated with a new default version (iam:CreatePolicyVersion): the
  tool's own policy denies that, so an administrator runs that apply; the error says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from provisioner.aws.discovery import iam_local_policy_details
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code
from provisioner.constants import IAM_PATH_ROOT, MANAGED_BY, TAG_MANAGED_BY
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext

BOUNDARY = "iam/boundary"  # node key
BOUNDARY_NAME = "provisioner-permissions-boundary"
# IAM keeps at most five versions of a managed policy.
MAX_VERSIONS = 5

# Services whose actions the tool's roles may use at most (see the module docstring).
ROLE_SERVICES = (
    "arc-zonal-shift",
    "autoscaling",
    "ec2",
    "ec2messages",
    "ecr",
    "eks",
    "eks-auth",
    "elasticloadbalancing",
    "kms",
    "logs",
    "pricing",
    "sqs",
    "ssm",
    "ssmmessages",
    "sts",
)
# IAM actions Karpenter's controller makes (instance profiles for its nodes, their role).
KARPENTER_IAM_ACTIONS = (
    "iam:AddRoleToInstanceProfile",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:ListInstanceProfiles",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
)
# Writes to IAM that would lift the ceiling, denied outright.
BOUNDARY_WRITES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)


def boundary_arn(partition: Any, account: Any) -> str:
    return f"arn:{partition}:iam::{account}:policy{IAM_PATH_ROOT}{BOUNDARY_NAME}"


def boundary_document(partition: Any, account: Any) -> dict[str, Any]:
    iam = f"arn:{partition}:iam::{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ServicesTheToolsRolesUse",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in ROLE_SERVICES],
                "Resource": "*",
            },
            {
                "Sid": "KarpenterInstanceProfiles",
                "Effect": "Allow",
                "Action": list(KARPENTER_IAM_ACTIONS),
                "Resource": f"{iam}:instance-profile/*",
            },
            {
                "Sid": "PassOnlyThePlansRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"{iam}:role{IAM_PATH_ROOT}*",
            },
            # AmazonEKSClusterPolicy makes the load balancers' service-linked role.
            {
                "Sid": "LoadBalancerServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"{iam}:role/aws-service-role/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            },
            {
                "Sid": "NoBoundaryChange",
                "Effect": "Deny",
                "Action": [
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:PutRolePermissionsBoundary",
                    "iam:DeleteUserPermissionsBoundary",
                    "iam:PutUserPermissionsBoundary",
                ],
                "Resource": "*",
            },
            {
                "Sid": "NoChangeToThisPolicy",
                "Effect": "Deny",
                "Action": list(BOUNDARY_WRITES),
                "Resource": boundary_arn(partition, account),
            },
            {
                "Sid": "NoOrganizationOrAccountActions",
                "Effect": "Deny",
                "Action": ["organizations:*", "account:*"],
                "Resource": "*",
            },
        ],
    }


def _document(value: Any) -> Any:
    return json.loads(unquote(value)) if isinstance(value, str) else value


@dataclass(kw_only=True)
class BoundaryPolicy(Resource):
    type = "iam:policy"
    iam_actions = (
        "iam:GetAccountAuthorizationDetails",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
    )
    create_seconds = 0.5
    delete_seconds = 0.0
    taggable = False  # the account's, not a plan's: `ManagedBy` only
    kept_on_destroy = True

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = [node for node in ctx.nodes.values() if isinstance(node, cls)]
        if not nodes:
            return []
        arn = boundary_arn(ctx.aws.partition, ctx.aws.account_id)
        # The account's policies come with the roles' one GetAccountAuthorizationDetails, not
        # a GetPolicy and a GetPolicyVersion of their own.
        policy = iam_local_policy_details(ctx).get(arn)
        version = next(
            (v for v in (policy or {}).get("PolicyVersionList", []) if v.get("IsDefaultVersion")),
            None,
        )
        if version is None:
            return []
        return [
            Live(key=node.key, id=arn, fields=cls.observe(version), raw=version, outputs={"arn": arn}) for node in nodes
        ]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the policy's default version (its `Document`, URL-encoded or not)."""
        return {"document": _document(item["Document"])}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"document": boundary_document(refs.get("@plan", "partition"), refs.get("@plan", "account_id"))}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        arn = boundary_arn(ctx.aws.partition, ctx.aws.account_id)
        try:
            iam.create_policy(
                PolicyName=BOUNDARY_NAME,
                Path=IAM_PATH_ROOT,
                PolicyDocument=json.dumps(want["document"]),
                Description="provisioner: the permissions boundary of every role it creates",
                Tags=[{"Key": TAG_MANAGED_BY, "Value": MANAGED_BY}],
            )
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise as_provisioner_error(exc, key=self.key) from exc
            # Made meanwhile by another plan's run in this account: make sure it is this one.
            live = Live(key=self.key, id=arn, fields={"document": None}, outputs={"arn": arn})
            return self.update(ctx, want, live, {"document": {}})
        return Live(key=self.key, id=arn, fields=dict(want), outputs={"arn": arn})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        try:
            versions = iam.list_policy_versions(PolicyArn=have.id)["Versions"]
            current = next((v for v in versions if v.get("IsDefaultVersion")), None)
            if current is not None and have.fields.get("document") is None:
                document = iam.get_policy_version(PolicyArn=have.id, VersionId=current["VersionId"])["PolicyVersion"][
                    "Document"
                ]
                if _document(document) == want["document"]:
                    have.fields.update(want)
                    return have
            if len(versions) >= MAX_VERSIONS:  # make room: the oldest version that is not the default
                oldest = min(
                    (v for v in versions if not v.get("IsDefaultVersion")), key=lambda v: str(v.get("CreateDate"))
                )
                iam.delete_policy_version(PolicyArn=have.id, VersionId=oldest["VersionId"])
            iam.create_policy_version(PolicyArn=have.id, PolicyDocument=json.dumps(want["document"]), SetAsDefault=True)
        except ClientError as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                raise PermanentError(
                    f"the permissions boundary {have.id} differs from what this version of provisioner sets, and "
                    "the tool's own policy may not change it",
                    key=self.key,
                    code=error_code(exc),
                    hint="run this apply once with administrator credentials (or update the policy's default version "
                    "to the document `provisioner plan` shows)",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(want)
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        """Never: other plans' roles in the account may use it (see the module docstring)."""


def boundary_policy() -> BoundaryPolicy:
    return BoundaryPolicy(key=BOUNDARY)


def with_boundary(nodes: list[Resource]) -> list[Resource]:
    """`nodes` with the boundary node added once when any of them is a role that uses it."""
    keys = {node.key for node in nodes}
    if BOUNDARY in keys or not any(BOUNDARY in node.depends_on for node in nodes):
        return nodes
    return [boundary_policy(), *nodes]
