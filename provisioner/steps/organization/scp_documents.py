"""The service control policies' documents, generated from the organization plan.

Each `ScpName` of the plan model has a generator here; all are pure functions of the plan
(no AWS call), and `validate` checks a document before anything is sent: JSON that is an
object with a `Statement`, every statement with an `Effect` and an action, and AWS's limit
of 5,120 characters for an SCP (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
Documents are sent minified: AWS counts every character of what the API receives,
whitespace included, so the minified size is the one that must fit.

- deny-leave-organization: no member account may leave (organizations:LeaveOrganization).
- protect-security-services: nobody in a member account may stop, delete or weaken GuardDuty,
  CloudTrail or VPC flow logs (and the flow logs' log groups, which the network step names
  `/provisioner/<plan>/vpc-flow-logs`) - except the organization access role, through which
  this tool itself removes an environment's flow logs on `destroy`; nor switch off the account
  baseline the organization plan sets (EBS encryption by default, account-level S3 Block
  Public Access), which the tool keeps through that same role. So `destroy` of an
  environment must run as that role (the default: the tool assumes it from the management
  account); a member-account `--profile` with another role is denied DeleteFlowLogs.
- restrict-regions: every action outside the plan's `allowed_regions` is denied, except the
  global services that live in us-east-1 whatever the caller's region (AWS's example policy
  "Deny access to AWS based on the requested AWS Region", with its NotAction list).
- deny-root-user: the root user of member accounts may do nothing (aws:PrincipalArn
  arn:*:iam::*:root, any partition). SCPs never apply to the management account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from provisioner.planfile.model import OrganizationPlan

MAX_SCP_CHARACTERS = 5120

# Global services, or actions that must work from any region (AWS's example region SCP).
GLOBAL_SERVICE_ACTIONS = (
    "a4b:*",
    "access-analyzer:*",
    "account:*",
    "acm:*",
    "aws-marketplace-management:*",
    "aws-marketplace:*",
    "aws-portal:*",
    "budgets:*",
    "ce:*",
    "chime:*",
    "cloudfront:*",
    "config:*",
    "cur:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways",
    "fms:*",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "importexport:*",
    "kms:*",
    "mobileanalytics:*",
    "networkmanager:*",
    "organizations:*",
    "pricing:*",
    "route53:*",
    "route53domains:*",
    "route53-recovery-cluster:*",
    "route53-recovery-control-config:*",
    "route53-recovery-readiness:*",
    "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:PutAccountPublic*",
    "shield:*",
    "sts:*",
    "support:*",
    "trustedadvisor:*",
    "waf-regional:*",
    "waf:*",
    "wafv2:*",
    "wellarchitected:*",
)

GUARDDUTY_PROTECTED = (
    "guardduty:DeleteDetector",
    "guardduty:DeleteMembers",
    "guardduty:DeletePublishingDestination",
    "guardduty:DisassociateFromAdministratorAccount",
    "guardduty:DisassociateFromMasterAccount",
    "guardduty:DisassociateMembers",
    "guardduty:StopMonitoringMembers",
    "guardduty:UpdateDetector",
)
CLOUDTRAIL_PROTECTED = (
    "cloudtrail:DeleteTrail",
    "cloudtrail:PutEventSelectors",
    "cloudtrail:PutInsightSelectors",
    "cloudtrail:StopLogging",
    "cloudtrail:UpdateTrail",
)
BASELINE_PROTECTED = (
    "ec2:DisableEbsEncryptionByDefault",
    "s3:PutAccountPublicAccessBlock",
    "s3:DeleteAccountPublicAccessBlock",
)
FLOW_LOG_GROUP_PROTECTED = (
    "logs:DeleteLogGroup",
    "logs:DeleteLogStream",
    "logs:DeleteRetentionPolicy",
    "logs:PutRetentionPolicy",
)


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _except_access_role(spec: OrganizationPlan) -> dict[str, Any]:
    # `arn:*`: the same document works in every partition (aws, aws-us-gov, aws-cn).
    return {"ArnNotLike": {"aws:PrincipalArn": [f"arn:*:iam::*:role/{spec.access_role_name}"]}}


def deny_leave_organization(spec: OrganizationPlan) -> dict[str, Any]:
    return _document(
        {"Sid": "DenyLeaveOrganization", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}
    )


def protect_security_services(spec: OrganizationPlan) -> dict[str, Any]:
    condition = _except_access_role(spec)
    return _document(
        {
            "Sid": "ProtectGuardDuty",
            "Effect": "Deny",
            "Action": list(GUARDDUTY_PROTECTED),
            "Resource": "*",
            "Condition": condition,
        },
        {
            "Sid": "ProtectCloudTrail",
            "Effect": "Deny",
            "Action": list(CLOUDTRAIL_PROTECTED),
            "Resource": "*",
            "Condition": condition,
        },
        {
            "Sid": "ProtectFlowLogs",
            "Effect": "Deny",
            "Action": "ec2:DeleteFlowLogs",
            "Resource": "*",
            "Condition": condition,
        },
        {
            "Sid": "ProtectAccountBaseline",
            "Effect": "Deny",
            "Action": list(BASELINE_PROTECTED),
            "Resource": "*",
            "Condition": condition,
        },
        {
            "Sid": "ProtectFlowLogGroups",
            "Effect": "Deny",
            "Action": list(FLOW_LOG_GROUP_PROTECTED),
            "Resource": [
                "arn:*:logs:*:*:log-group:/provisioner/*/vpc-flow-logs",
                "arn:*:logs:*:*:log-group:/provisioner/*/vpc-flow-logs:*",
            ],
            "Condition": condition,
        },
    )


def restrict_regions(spec: OrganizationPlan) -> dict[str, Any]:
    return _document(
        {
            "Sid": "DenyOutsideAllowedRegions",
            "Effect": "Deny",
            "NotAction": list(GLOBAL_SERVICE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": sorted(spec.allowed_regions)}},
        }
    )


def deny_root_user(spec: OrganizationPlan) -> dict[str, Any]:
    return _document(
        {
            "Sid": "DenyRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": ["arn:*:iam::*:root"]}},
        }
    )


GENERATORS: dict[str, Callable[[OrganizationPlan], dict[str, Any]]] = {
    "deny-leave-organization": deny_leave_organization,
    "protect-security-services": protect_security_services,
    "restrict-regions": restrict_regions,
    "deny-root-user": deny_root_user,
}

DESCRIPTIONS = {
    "deny-leave-organization": "Member accounts cannot leave the organization",
    "protect-security-services": "GuardDuty, CloudTrail, VPC flow logs and the account baseline cannot be disabled",
    "restrict-regions": "Only the organization's allowed regions (global services excepted)",
    "deny-root-user": "The root user of member accounts can do nothing",
}


def generate(name: str, spec: OrganizationPlan) -> dict[str, Any]:
    return GENERATORS[name](spec)


def minified(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=False)


def validate(document: Any) -> list[str]:
    """Problems with an SCP document, empty when it may be sent."""
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    try:
        text = minified(document)
    except (TypeError, ValueError) as exc:
        return [f"the document is not JSON ({exc})"]
    if len(text) > MAX_SCP_CHARACTERS:
        problems.append(f"it is {len(text)} characters minified; AWS allows {MAX_SCP_CHARACTERS} per SCP")
    if document.get("Version") != "2012-10-17":
        problems.append('its Version must be "2012-10-17"')
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        problems.append("it has no Statement")
        return problems
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            problems.append(f"statement {index} is not an object")
            continue
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"statement {index} has no Effect Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            problems.append(f"statement {index} needs exactly one of Action and NotAction")
        if "Principal" in statement or "NotPrincipal" in statement:
            problems.append(f"statement {index} names a Principal, which SCPs do not take")
    return problems
