"""`iam-policy`: the least-privilege IAM policy this tool needs, built from declarations.

Every resource kind declares the IAM actions its discover/create/update/delete make (the
`iam_actions` ClassVar of `engine.Resource`), including those AWS checks behind a call
(`iam:PassRole` for a role handed to EKS, `kms:CreateGrant` for an encrypted RDS instance,
`secretsmanager:CreateSecret` for the RDS-managed master password). To those this module
adds what runs outside the graph: finding the plan's account and assuming the access role,
the `kubeconfig`, `snapshot`, `restore` and `check` commands, and the DynamoDB lock.

The document has one statement per service (plus one per service for actions that take no
resource ARN), and is printed for one partition (`arn:<partition>:`, from `--partition` or the
region). Resources are scoped where that is cheap and cannot break a run:

- IAM: roles under the tool's paths `/provisioner/` and `/provisioner-ci/`, AWS service-linked
  roles and OIDC providers; `sts:AssumeRole` only the organization access role;
- CloudWatch Logs: log groups under `/provisioner/`;
- S3: the CloudTrail buckets `*-cloudtrail-*`; DynamoDB: any table (its name is per plan);
- deletes of what the tool always tags at creation (VPC parts, EKS cluster and node groups,
  the DB instance, ECR repositories, the interruption queue and rules, IAM roles): only with
  the tool's `ManagedBy` tag (`aws:ResourceTag`), per `TAG_SCOPED`.

Everything else is `*`: EC2, EKS, RDS and KMS ids are not known before a create, creates
cannot be conditioned on the new resource's own tags (`aws:ResourceTag`), and destroy sweeps
what in-cluster controllers made, which carries the cluster's tags, not this tool's (so
TerminateInstances, DeleteSecurityGroup, DeleteLaunchTemplate, DeleteNetworkInterface and the
load balancers' deletes stay unconditioned). There is never a `*` action.

Not admin in disguise: the tool must create roles and give them policies, so
- every role it creates has the account's permissions boundary (steps/iam/boundary.py), and
  CreateRole / PutRolePermissionsBoundary / PutRolePolicy / AttachRolePolicy are allowed only
  with `iam:PermissionsBoundary` equal to it; DeleteRolePermissionsBoundary and any change to
  the boundary policy are denied (the policy may only create it where it is missing);
- AttachRolePolicy / DetachRolePolicy only for the AWS-managed policies the roles use
  (`iam:PolicyARN`, from steps/iam/roles.py AWS_MANAGED_POLICIES);
- CreateServiceLinkedRole only for the services the kinds name (`iam:AWSServiceName`, from
  each kind's `linked_services`); PassRole only of /provisioner/ roles to EKS, Pod Identity and
  flow logs.
What remains: the holder can make a role under /provisioner/ that trusts them, with any inline
policy, but it can do no more than the boundary allows (no IAM writes but instance profiles,
no Organizations or account actions). UpdateAssumeRolePolicy has no boundary condition key; it
is limited to the tool's roles by path and `ManagedBy` tag, which all carry the boundary after
one apply with this version. Make the boundary exist before handing this policy out in an
account (an apply there with administrator credentials): CreatePolicy is allowed for its name
only, and fails once it exists, so until then the first holder to create it chooses its content.
A policy someone attached to a tool's role by hand is not detachable with this policy either:
destroy then stops on AccessDenied naming it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

from provisioner.aws.session import available_partitions, partition_for_region
from provisioner.constants import IAM_PATH_ROOT, MANAGED_BY, TAG_MANAGED_BY
from provisioner.engine import PermanentError, Resource
from provisioner.engine.resource import kinds
from provisioner.planfile import OrganizationPlan, Plan
from provisioner.steps.iam import AWS_MANAGED_POLICIES
from provisioner.steps.iam.boundary import BOUNDARY_WRITES, boundary_arn
from provisioner.steps.shared.ci_roles import CI_PATH_ROOT

__all__ = [
    "EXTRA_ACTIONS",
    "TAG_SCOPED",
    "all_kinds",
    "linked_services",
    "managed_policy_arns",
    "policy_document",
    "required_actions",
]

# What runs outside the resource graph, by where it runs.
EXTRA_ACTIONS: dict[str, tuple[str, ...]] = {
    # aws/accounts.py: the plan's account by its email, then its access role.
    "accounts": ("organizations:ListAccounts", "sts:AssumeRole"),
    # cli kubeconfig and eks-token: the cluster's endpoint and CA (the token is presigned STS).
    "kubeconfig": ("eks:DescribeCluster",),
    # operations/rds/: snapshot and point-in-time restore (also into the DR region).
    "database": (
        "rds:DescribeDBInstances",
        "rds:DescribeDBSnapshots",
        "rds:CreateDBSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBInstanceAutomatedBackups",
        "rds:RestoreDBInstanceToPointInTime",
        "rds:DescribeDBSubnetGroups",
        "rds:DescribeDBParameterGroups",
        "rds:DescribeDBParameters",
        "rds:CreateDBParameterGroup",
        "rds:ModifyDBParameterGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
    ),
    # operations/check/: the live audit (read-only).
    "check": (
        "ec2:DescribeVpcs",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeSubnets",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "eks:DescribeCluster",
        "eks:ListPodIdentityAssociations",
        "rds:DescribeDBInstances",
        "rds:DescribeDBParameters",
        "tag:GetResources",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "iam:ListRoles",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "ecr:DescribeRepositories",
        "ecr:GetLifecyclePolicy",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketPolicy",
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        # operations/check_accounts.py: every account's baseline (through the access role, "accounts").
        "ec2:GetEbsEncryptionByDefault",
        "s3:GetAccountPublicAccessBlock",
    ),
    # aws/dynamodb_lock.py: the optional team lock (conditional writes on one table).
    "lock": (
        "dynamodb:DescribeTable",
        "dynamodb:CreateTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ),
}

# Actions IAM evaluates against no resource ARN: they must have `"Resource": "*"`.
UNSCOPED = frozenset(
    {
        "iam:ListRoles",
        "iam:GetAccountAuthorizationDetails",
        "iam:ListOpenIDConnectProviders",
        "iam:ListInstanceProfiles",
        "iam:ListPolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "logs:DescribeLogGroups",
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "s3:CreateBucket",
        "s3:ListAllMyBuckets",
    }
)
# Paths of the tool's roles: environments' under /provisioner/<plan>/, CI's under /provisioner-ci/.
ROLE_PATHS = (IAM_PATH_ROOT, CI_PATH_ROOT)


def _scopes(partition: str) -> dict[str, list[str]]:
    iam = f"arn:{partition}:iam::*"
    return {
        "iam": [
            *(f"{iam}:role{path}*" for path in ROLE_PATHS),
            f"{iam}:role/aws-service-role/*",
            f"{iam}:oidc-provider/*",
            f"{iam}:instance-profile/*",
            f"{iam}:policy{IAM_PATH_ROOT}*",
        ],
        # The flow logs' groups, and EKS's control-plane log group (/aws/eks/<cluster>/cluster),
        # which the tool makes before the cluster so that it has the plan's retention.
        "logs": [
            f"arn:{partition}:logs:*:*:log-group:{IAM_PATH_ROOT}*",
            f"arn:{partition}:logs:*:*:log-group:/aws/eks/*",
        ],
        "s3": [f"arn:{partition}:s3:::*-cloudtrail-*"],
    }


DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"
# Services the tool passes its roles to: the EKS cluster and node group roles, Pod Identity
# associations (Karpenter's controller role), and the flow logs' delivery role.
PASSED_TO_SERVICES = ("eks.amazonaws.com", "pods.eks.amazonaws.com", "vpc-flow-logs.amazonaws.com")
# Deletes (and IAM role changes) of resources the tool always tags at creation, allowed only on
# resources carrying its ManagedBy tag. Each resource type supports `aws:ResourceTag/${TagKey}`
# in the Service Authorization Reference. Deletes of what controllers in the cluster made
# (instances, security groups, launch templates, ENIs, load balancers) are not here: those
# carry the cluster's tags.
TAG_SCOPED = frozenset(
    {
        "ec2:DeleteVpc",
        "ec2:DeleteSubnet",
        "ec2:DeleteNatGateway",
        "ec2:DeleteInternetGateway",
        "ec2:DeleteRouteTable",
        "ec2:DeleteNetworkAcl",
        "ec2:ReleaseAddress",
        "ec2:DeleteFlowLogs",
        "eks:DeleteCluster",
        "eks:DeleteNodegroup",
        "rds:DeleteDBInstance",
        "ecr:DeleteRepository",
        "sqs:DeleteQueue",
        "events:DeleteRule",
        "iam:DeleteRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePolicy",
    }
)
# Role writes allowed only when the role has (or gets) the tool's permissions boundary.
WITH_BOUNDARY = ("iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy")
# Writes the tool's own identity may never make (an administrator makes them if ever needed).
DENIED = ("iam:DeleteRolePermissionsBoundary", *BOUNDARY_WRITES)
# Handled by statements of their own below.
_SPECIAL = frozenset(
    {
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "iam:CreatePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:GetRole",
        *WITH_BOUNDARY,
        *DENIED,
    }
)


def all_kinds() -> list[type[Resource]]:
    """Every concrete resource kind in provisioner.steps (importing each step module)."""
    import provisioner.steps as steps

    for module in pkgutil.walk_packages(steps.__path__, f"{steps.__name__}."):
        importlib.import_module(module.name)
    found = [kind for kind in kinds().values() if kind.__module__.startswith("provisioner.steps")]
    return sorted(found, key=lambda kind: f"{kind.__module__}.{kind.__qualname__}")


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


def linked_services(plans: Iterable[Plan] | None = None) -> list[str]:
    """The services whose service-linked roles the kinds may make (`iam:AWSServiceName`)."""
    kinds = all_kinds() if plans is None else _plan_kinds(plans)
    return sorted({service for kind in kinds for service in kind.linked_services})


def managed_policy_arns(partition: str) -> list[str]:
    return [f"arn:{partition}:iam::aws:policy/{name}" for name in AWS_MANAGED_POLICIES]


def boundary_pattern(partition: str) -> str:
    """The boundary's ARN in any account (the policy serves every account the tool acts in)."""
    return boundary_arn(partition, "*")


def resolve_partition(partition: str | None, region: str | None) -> str:
    """The partition asked for (checked against botocore's), or that of the region."""
    if partition is None:
        return partition_for_region(region)
    known = available_partitions()
    if partition not in known:
        raise PermanentError(
            f"--partition {partition!r} is not an AWS partition",
            code="InvalidPartition",
            hint=f"use one of {', '.join(known)}",
        )
    return partition


def policy_document(plans: list[Plan] | None = None, partition: str = "aws") -> dict[str, Any]:
    actions = required_actions(plans)
    role_names = {DEFAULT_ACCESS_ROLE} | {
        p.spec.access_role_name for p in plans or () if isinstance(p.spec, OrganizationPlan)
    }
    role_names |= {p.organization.access_role_name for p in plans or () if p.organization is not None}
    scopes = _scopes(partition)
    by_service: dict[str, list[str]] = {}
    for action in actions:
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    managed_by = {"StringEquals": {f"aws:ResourceTag/{TAG_MANAGED_BY}": MANAGED_BY}}
    statements: list[dict[str, Any]] = []
    for service in sorted(by_service):
        wanted = by_service[service]
        scoped = [a for a in wanted if a not in UNSCOPED and a not in _SPECIAL and a not in TAG_SCOPED]
        tagged = [a for a in wanted if a in TAG_SCOPED]
        unscoped = [a for a in wanted if a in UNSCOPED]
        if service == "sts":
            resources: list[str] | str = [f"arn:{partition}:iam::*:role/{name}" for name in sorted(role_names)]
        else:
            resources = scopes.get(service, "*")
        sid = service.title().replace("-", "")
        if scoped:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": scoped, "Resource": resources})
        if tagged:
            where = [f"arn:{partition}:iam::*:role{path}*" for path in ROLE_PATHS] if service == "iam" else resources
            statements.append(
                {
                    "Sid": f"{sid}OnlyWhatTheToolTagged",
                    "Effect": "Allow",
                    "Action": tagged,
                    "Resource": where,
                    "Condition": managed_by,
                }
            )
        if unscoped:
            statements.append({"Sid": f"{sid}NoResource", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
        if service == "iam":
            statements += _iam_statements(wanted, partition, plans)
    return {"Version": "2012-10-17", "Statement": statements}


def _iam_statements(wanted: list[str], partition: str, plans: list[Plan] | None) -> list[dict[str, Any]]:
    """IAM's writes that could raise privileges, each with the condition that bounds it."""
    iam = f"arn:{partition}:iam::*"
    roles = [f"{iam}:role{path}*" for path in ROLE_PATHS]
    boundary = {"StringLike": {"iam:PermissionsBoundary": boundary_pattern(partition)}}
    managed = {"ArnEquals": {"iam:PolicyARN": managed_policy_arns(partition)}}
    out: list[dict[str, Any]] = []
    with_boundary = [a for a in WITH_BOUNDARY if a in wanted]
    if with_boundary:
        out.append(
            {
                "Sid": "IamRoleWritesOnlyWithTheBoundary",
                "Effect": "Allow",
                "Action": with_boundary,
                "Resource": roles,
                "Condition": boundary,
            }
        )
    if "iam:AttachRolePolicy" in wanted:
        out.append(
            {
                "Sid": "IamAttachOnlyTheManagedPoliciesTheToolUses",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy"],
                "Resource": roles,
                "Condition": {**managed, **boundary},
            }
        )
    if "iam:DetachRolePolicy" in wanted:
        out.append(
            {
                "Sid": "IamDetachOnlyTheManagedPoliciesTheToolUses",
                "Effect": "Allow",
                "Action": ["iam:DetachRolePolicy"],
                "Resource": roles,
                "Condition": managed,
            }
        )
    if "iam:CreatePolicy" in wanted:
        out.append(
            {
                "Sid": "IamCreateOnlyTheBoundary",
                "Effect": "Allow",
                "Action": ["iam:CreatePolicy"],
                "Resource": boundary_pattern(partition),
            }
        )
    if "iam:CreateServiceLinkedRole" in wanted:
        out.append(
            {
                "Sid": "IamServiceLinkedRolesTheToolNeeds",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": f"{iam}:role/aws-service-role/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": linked_services(plans)}},
            }
        )
    if "iam:PassRole" in wanted:
        # The tool hands its roles only to these services: nobody holding this policy can
        # pass a /provisioner/ role to, say, an EC2 instance or a Lambda of their own.
        out.append(
            {
                "Sid": "IamPassRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": f"{iam}:role{IAM_PATH_ROOT}*",
                "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
            }
        )
    # AwsSession.caller_arn reads the caller's own role (an assumed-role ARN has no path, and
    # IAM Identity Center roles live under /aws-reserved/sso.amazonaws.com/): a read of any role.
    out.append(
        {"Sid": "IamReadTheCallersRole", "Effect": "Allow", "Action": ["iam:GetRole"], "Resource": f"{iam}:role/*"}
    )
    # Explicit denies, so that no other policy of the same principal can grant these either.
    out += [
        {
            "Sid": "DenyRemovingTheBoundary",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary"],
            "Resource": "*",
        },
        {
            "Sid": "DenyChangingTheBoundaryPolicy",
            "Effect": "Deny",
            "Action": list(BOUNDARY_WRITES),
            "Resource": boundary_pattern(partition),
        },
    ]
    return out
