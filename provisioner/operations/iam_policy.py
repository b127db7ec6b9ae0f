"""`iam-policy`: the least-privilege IAM policy this tool needs, built from declarations.

Every resource kind declares the IAM actions its discover/create/update/delete make (the
`iam_actions` ClassVar of `engine.Resource`), including those AWS checks behind a call
(`iam:PassRole` for a role handed to EKS, `kms:CreateGrant` for an encrypted RDS instance,
`secretsmanager:CreateSecret` for the RDS-managed master password). To those this module
adds what runs outside the graph: finding the plan's account and assuming the access role,
the `kubeconfig`, `snapshot`, `restore` and `check` commands, and the DynamoDB lock.

The document has one statement per service (plus one per service for actions that take no
resource ARN). Resources are scoped where that is cheap and cannot break a run:

- IAM: roles under the tool's paths `/provisioner/` and `/provisioner-ci/`, AWS service-linked roles and OIDC
  providers; `sts:AssumeRole` only the organization access role;
- CloudWatch Logs: log groups under `/provisioner/`;
- S3: the CloudTrail buckets `*-cloudtrail-*`; DynamoDB: any table (its name is per plan).

Everything else is `*`: EC2, EKS, RDS and KMS ids are not known before a create, creates
cannot be conditioned on the new resource's own tags (`aws:ResourceTag`), and destroy sweeps
what in-cluster controllers made, which carries the cluster's tags, not this tool's. There is
never a `*` action. `iam:PassRole` is limited to the services the tool hands roles to.

Known limit: whoever holds this policy can create roles under `/provisioner/` with any
policy attached (the tool must, for EKS, Karpenter and CI roles), so it is as powerful as
an administrator of those accounts. Give it to the CI or operators trusted that far, or add
an IAM permissions boundary to the roles the tool creates and require it here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

from provisioner.engine import Resource
from provisioner.planfile import OrganizationPlan, Plan

__all__ = ["EXTRA_ACTIONS", "all_kinds", "policy_document", "required_actions"]

# What runs outside the resource graph, by where it runs.
EXTRA_ACTIONS: dict[str, tuple[str, ...]] = {
    # aws/accounts.py: the plan's account by its email, then its access role.
    "accounts": ("organizations:ListAccounts", "sts:AssumeRole"),
    # cli kubeconfig and eks-token: the cluster's endpoint and CA (the token is presigned STS).
    "kubeconfig": ("eks:DescribeCluster",),
    # operations/rds.py: snapshot and point-in-time restore (also into the DR region).
    "database": (
        "rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:CreateDBSnapshot", "rds:AddTagsToResource",
        "rds:DescribeDBInstanceAutomatedBackups", "rds:RestoreDBInstanceToPointInTime", "rds:DescribeDBSubnetGroups",
        "rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:CreateDBParameterGroup",
        "rds:ModifyDBParameterGroup", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
        "kms:DescribeKey", "kms:CreateGrant", "secretsmanager:CreateSecret", "secretsmanager:TagResource",
    ),
    # operations/check.py: the live audit (read-only).
    "check": (
        "ec2:DescribeVpcs", "ec2:DescribeFlowLogs", "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkAcls",
        "ec2:DescribeSubnets", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions",
        "eks:DescribeCluster", "eks:ListPodIdentityAssociations", "rds:DescribeDBInstances", "rds:DescribeDBParameters",
        "tag:GetResources", "kms:DescribeKey", "kms:GetKeyRotationStatus", "iam:ListRoles", "iam:ListRolePolicies",
        "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion",
        "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "ecr:DescribeRepositories", "ecr:GetLifecyclePolicy",
        "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "s3:GetBucketPublicAccessBlock",
        "s3:GetEncryptionConfiguration", "s3:GetBucketPolicy", "guardduty:ListDetectors", "guardduty:GetDetector",
        # operations/check_accounts.py: every account's baseline (through the access role, "accounts").
        "ec2:GetEbsEncryptionByDefault", "s3:GetAccountPublicAccessBlock",
    ),
    # aws/dynamodb_lock.py: the optional team lock (conditional writes on one table).
    "lock": ("dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:GetItem", "dynamodb:PutItem",
             "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
}

# Actions IAM evaluates against no resource ARN: they must have `"Resource": "*"`.
UNSCOPED = frozenset({
    "iam:ListRoles", "iam:GetAccountAuthorizationDetails", "iam:ListOpenIDConnectProviders", "iam:ListInstanceProfiles", "iam:ListPolicies",
    "iam:GetPolicy", "iam:GetPolicyVersion", "logs:DescribeLogGroups", "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery", "s3:CreateBucket", "s3:ListAllMyBuckets",
})
_SCOPES: dict[str, list[str]] = {
    # The tool's roles: environments' under /provisioner/<plan>/, CI's under /provisioner-ci/.
    "iam": ["arn:aws:iam::*:role/provisioner/*", "arn:aws:iam::*:role/provisioner-ci/*", "arn:aws:iam::*:role/aws-service-role/*",
            "arn:aws:iam::*:oidc-provider/*", "arn:aws:iam::*:instance-profile/*"],
    "logs": ["arn:aws:logs:*:*:log-group:/provisioner/*"],
    "s3": ["arn:aws:s3:::*-cloudtrail-*"],
}
DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"
# Services the tool passes its roles to: the EKS cluster and node group roles, Pod Identity
# associations (Karpenter's controller role), and the flow logs' delivery role.
PASSED_TO_SERVICES = ("eks.amazonaws.com", "pods.eks.amazonaws.com", "vpc-flow-logs.amazonaws.com")


def all_kinds() -> list[type[Resource]]:
    """Every concrete resource kind in provisioner.steps (importing each step module)."""
    import provisioner.steps as steps

    for module in pkgutil.walk_packages(steps.__path__, f"{steps.__name__}."):
        importlib.import_module(module.name)
    seen: dict[str, type[Resource]] = {}
    stack = list(Resource.__subclasses__())
    while stack:
        kind = stack.pop()
        stack.extend(kind.__subclasses__())
        if kind.type != "abstract" and kind.__module__.startswith("provisioner.steps"):
            seen[f"{kind.__module__}.{kind.__qualname__}"] = kind
    return [seen[name] for name in sorted(seen)]


def _plan_kinds(plans: Iterable[Plan]) -> list[type[Resource]]:
    from provisioner.steps import SHARED_ACCOUNT, build

    kinds: dict[type[Resource], None] = {}
    for plan in plans:
        # With a Shared Services account known, environments also get the CI deploy role.
        for node in build(plan, account_ids={SHARED_ACCOUNT: "000000000000"}):
            kinds[type(node)] = None
    return list(kinds)


def required_actions(plans: Iterable[Plan] | None = None) -> list[str]:
    """Every action the tool needs, for these plans (default: any plan)."""
    kinds = all_kinds() if plans is None else _plan_kinds(plans)
    actions = {a for kind in kinds for a in kind.iam_actions}
    for extra in EXTRA_ACTIONS.values():
        actions.update(extra)
    return sorted(actions)


def policy_document(plans: list[Plan] | None = None) -> dict[str, Any]:
    actions = required_actions(plans)
    role_names = {DEFAULT_ACCESS_ROLE} | {p.spec.access_role_name for p in plans or () if isinstance(p.spec, OrganizationPlan)}
    role_names |= {p.organization.access_role_name for p in plans or () if p.organization is not None}
    by_service: dict[str, list[str]] = {}
    for action in actions:
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    statements: list[dict[str, Any]] = []
    for service in sorted(by_service):
        scoped = [a for a in by_service[service] if a not in UNSCOPED and a != "iam:PassRole"]
        unscoped = [a for a in by_service[service] if a in UNSCOPED]
        if service == "sts":
            resources: list[str] | str = [f"arn:aws:iam::*:role/{name}" for name in sorted(role_names)]
        else:
            resources = _SCOPES.get(service, "*")
        sid = service.title().replace("-", "")
        if scoped:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": scoped, "Resource": resources})
        if unscoped:
            statements.append({"Sid": f"{sid}NoResource", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
        if service == "iam" and "iam:PassRole" in by_service[service]:
            # The tool hands its roles only to these services: nobody holding this policy can
            # pass a /provisioner/ role to, say, an EC2 instance or a Lambda of their own.
            statements.append({"Sid": "IamPassRole", "Effect": "Allow", "Action": ["iam:PassRole"],
                               "Resource": "arn:aws:iam::*:role/provisioner/*",
                               "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}}})
    return {"Version": "2012-10-17", "Statement": statements}
