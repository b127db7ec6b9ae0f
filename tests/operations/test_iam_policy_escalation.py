"""`iam-policy` is not admin in disguise: a small privilege-escalation checker over the printed
document, the conditions that bound IAM writes, one source for managed policies and
service-linked roles, the session's partition in every ARN, and only real IAM actions."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from provisioner.operations.iam_policy import (
    TAG_SCOPED,
    all_kinds,
    linked_services,
    managed_policy_arns,
    policy_document,
)
from provisioner.planfile import load_plan
from provisioner.steps import build
from provisioner.steps.iam import AWS_MANAGED_POLICIES, Role
from provisioner.steps.iam.roles import managed_policy_name
from tests.conftest import PLANS
from tests.operations.test_iam_policy import ACTION_FOR, IAM_PREFIX

BOUNDARY = "arn:aws:iam::*:policy/provisioner/provisioner-permissions-boundary"
ROLE_SCOPES = {"arn:aws:iam::*:role/provisioner/*", "arn:aws:iam::*:role/provisioner-ci/*"}
# Writes that let a principal raise its own privileges (after Rhino Security Labs' list of
# IAM escalation methods), grouped by what must bound them.
NEEDS_BOUNDARY = {"iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy"}
NEVER = {
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:PutUserPolicy",
    "iam:AttachUserPolicy",
    "iam:AddUserToGroup",
    "iam:PutGroupPolicy",
    "iam:AttachGroupPolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:UpdateRole",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
}
# IAM actions that authorise no API operation of their own (permission-only) in the Service
# Authorization Reference: passing a role to a service, and CloudWatch Logs' vended log
# delivery (what a VPC flow log to a log group is authorised by).
# Permission-only actions, and the account-level S3 Block Public Access settings, which IAM
# authorises as s3:Get/PutAccountPublicAccessBlock for S3 Control's Get/PutPublicAccessBlock.
PERMISSION_ONLY = {
    "iam:PassRole",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "s3:GetAccountPublicAccessBlock",
    "s3:PutAccountPublicAccessBlock",
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition(statement: dict[str, Any], key: str) -> list[str]:
    for operator, values in (statement.get("Condition") or {}).items():
        if key in values and not operator.startswith(("StringNot", "ArnNot")):
            return _list(values[key])
    return []


def escalation_paths(document: dict[str, Any]) -> list[str]:
    """What in `document` lets its holder get more than the tool needs, one line each."""
    findings = []
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        resources = set(_list(statement["Resource"]))
        for action in _list(statement["Action"]):
            where = f"{statement.get('Sid')}: {action}"
            if "*" in action.split(":", 1)[-1] or action == "*":
                findings.append(f"{where} is a wildcard action")
            if action in NEVER:
                findings.append(f"{where} is allowed at all")
            if action in NEEDS_BOUNDARY and _condition(statement, "iam:PermissionsBoundary") != [BOUNDARY]:
                findings.append(f"{where} without the iam:PermissionsBoundary condition")
            if action in NEEDS_BOUNDARY and not resources <= ROLE_SCOPES:
                findings.append(f"{where} on roles outside the tool's paths: {sorted(resources)}")
            if action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
                arns = _condition(statement, "iam:PolicyARN")
                if not arns or any("*" in arn or ":iam::aws:policy/" not in arn for arn in arns):
                    findings.append(f"{where} not limited to named AWS-managed policies: {arns}")
                if any(arn.endswith(("/AdministratorAccess", "/IAMFullAccess", "/PowerUserAccess")) for arn in arns):
                    findings.append(f"{where} may attach an administrator policy")
            if action == "iam:UpdateAssumeRolePolicy" and (
                not resources <= ROLE_SCOPES or _condition(statement, "aws:ResourceTag/ManagedBy") != ["provisioner"]
            ):
                findings.append(f"{where} on roles the tool did not make")
            if action == "iam:CreatePolicy" and resources != {BOUNDARY}:
                findings.append(f"{where} may create policies other than the boundary: {sorted(resources)}")
            if action == "iam:CreateServiceLinkedRole" and not _condition(statement, "iam:AWSServiceName"):
                findings.append(f"{where} for any service")
            if action == "iam:PassRole" and (not _condition(statement, "iam:PassedToService") or "*" in resources):
                findings.append(f"{where} to any service or of any role")
            if action == "sts:AssumeRole" and any(r == "*" or r.endswith(":role/*") for r in resources):
                findings.append(f"{where} of any role")
    return findings


@pytest.mark.parametrize("plans", [(), ("dev",), ("organization", "shared")])
def test_the_printed_policy_has_no_escalation_path(cli, plans) -> None:
    result = cli("iam-policy", *plans)
    assert result.code == 0, result.err
    assert escalation_paths(json.loads(result.out)) == []


def test_the_checker_finds_the_paths_the_policy_used_to_have() -> None:
    """The checker can fail: the document as the tool printed it before (role writes on the
    tool's paths without conditions) is flagged for each escalation path."""
    loose = copy.deepcopy(policy_document())
    for statement in loose["Statement"]:
        statement.pop("Condition", None)
    findings = "\n".join(escalation_paths(loose))
    for action in (
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:CreateServiceLinkedRole",
        "iam:PassRole",
    ):
        assert action in findings, action


def test_role_writes_carry_the_boundary_condition_and_its_removal_is_denied() -> None:
    statements = policy_document()["Statement"]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        for action in _list(statement["Action"]):
            by_action.setdefault(action, []).append(statement)
    for action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary"):
        (statement,) = by_action[action]
        assert statement["Condition"] == {"StringLike": {"iam:PermissionsBoundary": BOUNDARY}}
    denied = {a for s in statements if s["Effect"] == "Deny" for a in s["Action"]}
    assert {
        "iam:DeleteRolePermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicy",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
    } <= denied
    assert not denied & {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}


def test_attach_is_limited_to_the_managed_policies_the_roles_use() -> None:
    used = set()
    for name in ("dev", "staging", "prod", "shared"):
        used |= {
            managed_policy_name(arn)
            for node in build(load_plan(name, PLANS))
            if isinstance(node, Role)
            for arn in node.managed_policies
        }
    assert used == set(AWS_MANAGED_POLICIES)  # no stale entry, none missing
    (attach,) = [s for s in policy_document()["Statement"] if "iam:AttachRolePolicy" in s["Action"]]
    assert attach["Condition"]["ArnEquals"]["iam:PolicyARN"] == managed_policy_arns("aws")


def test_service_linked_roles_only_for_the_services_the_kinds_name() -> None:
    for kind in all_kinds():
        creates = "iam:CreateServiceLinkedRole" in kind.iam_actions
        assert bool(kind.linked_services) == creates, kind.__name__
        assert all(s.endswith(".amazonaws.com") for s in kind.linked_services), kind.__name__
    (statement,) = [s for s in policy_document()["Statement"] if "iam:CreateServiceLinkedRole" in s["Action"]]
    assert statement["Condition"] == {"StringEquals": {"iam:AWSServiceName": linked_services()}}
    assert {"eks.amazonaws.com", "spot.amazonaws.com", "replication.ecr.amazonaws.com"} <= set(linked_services())


def test_deletes_of_what_the_tool_tags_need_its_tag() -> None:
    statements = policy_document()["Statement"]
    unconditioned = {a for s in statements if s["Effect"] == "Allow" and "Condition" not in s for a in s["Action"]}
    tagged = {
        a
        for s in statements
        if s.get("Condition") == {"StringEquals": {"aws:ResourceTag/ManagedBy": "provisioner"}}
        for a in s["Action"]
    }
    assert {
        "ec2:DeleteVpc",
        "eks:DeleteCluster",
        "rds:DeleteDBInstance",
        "ecr:DeleteRepository",
        "iam:DeleteRole",
    } <= tagged
    assert tagged <= TAG_SCOPED and not tagged & unconditioned


@pytest.mark.parametrize(
    ("arguments", "partition"),
    [(("--partition", "aws-us-gov"), "aws-us-gov"), (("dev", "--region", "cn-north-1"), "aws-cn"), ((), "aws")],
)
def test_every_arn_has_the_partition(cli, arguments, partition) -> None:
    result = cli("iam-policy", *arguments)
    assert result.code == 0, result.err
    text = result.out
    arns = [word.strip('",') for word in text.split() if word.strip('",').startswith("arn:")]
    assert arns and all(arn.startswith(f"arn:{partition}:") for arn in arns)


def test_an_unknown_partition_is_refused(cli) -> None:
    result = cli("iam-policy", "--partition", "aws-mars")
    assert result.code != 0 and "aws-mars" in result.err and "aws-us-gov" in result.err


@cache
def _operations_by_prefix() -> dict[str, set[str]]:
    """API operation names of every botocore service model, by IAM service prefix (botocore's
    signing name, except where IAM_PREFIX says otherwise)."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    found: dict[str, set[str]] = {}
    for service in loader.list_available_services("service-2"):
        metadata = loader.load_service_model(service, "service-2")["metadata"]
        signing = metadata.get("signingName") or metadata["endpointPrefix"]
        operations = loader.load_service_model(service, "service-2")["operations"]
        found.setdefault(IAM_PREFIX.get(signing, signing), set()).update(operations)
    return found


def test_every_action_is_a_real_iam_action() -> None:
    """IAM action names are mostly API operation names; the exceptions are the operations IAM
    authorises under another name (ACTION_FOR: S3's) and permission-only actions."""
    operations = _operations_by_prefix()
    renamed = set(ACTION_FOR.values())
    unknown = []
    for statement in policy_document()["Statement"]:
        for action in _list(statement["Action"]):
            prefix, name = action.split(":", 1)
            if name not in operations.get(prefix, set()) and action not in renamed | PERMISSION_ONLY:
                unknown.append(action)
    assert unknown == []
    assert "CreateVpc" in operations["ec2"] and "GetResources" in operations["tag"]  # the derivation works
