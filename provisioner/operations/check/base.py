"""What every section of the live audit shares: the findings list and how a section adds to
it, the clients it reads with, the plan's security groups, and pure helpers that judge policy
documents and network rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.session import AwsSession
from provisioner.aws.tags import plan_filter
from provisioner.planfile import EnvironmentPlan, Plan, SharedPlan
from provisioner.planfile.baseline import CONTROLS, FAIL, Finding, finding
from provisioner.planfile.checks import is_strict

WORLD = ("0.0.0.0/0", "::/0")
AWS_MANAGED = ":iam::aws:policy/"
# AWS-managed policies that grant everything (IAM.1 in spirit: `*` on `*`).
ADMIN_POLICIES = ("/AdministratorAccess",)
NODE_SG_KEY = "eks/node-security-group"


class AuditBase:
    """The audit's state and helpers; each section module adds its service's checks."""

    def __init__(self, session: AwsSession, plan: Plan):
        self.session = session
        self.plan = plan
        self.name = plan.name
        self.strict = is_strict(plan.spec, plan.name)
        self.findings: list[Finding] = []
        self._plan_groups: list[dict[str, Any]] | None = None

    # -- helpers ------------------------------------------------------------------------------
    def add(self, control: str, resource: str, ok: bool | None, detail: str, where: str, warn: bool = False) -> None:
        self.findings.append(finding(control, resource, ok, detail, where, strict=self.strict, warn=warn))

    def missing(self, controls: tuple[str, ...], resource: str, what: str) -> None:
        for control in controls:
            self.add(control, resource, None, f"not found: {what}", what)

    def run(self, section: Callable[[], None]) -> None:
        """A read the credentials may not make fails its section, not the whole check."""
        try:
            section()
        except ClientError as exc:
            name = section.__name__
            control = SECTION_CONTROL[name]
            self.findings.append(
                Finding(
                    control,
                    control if CONTROLS[control].fsbp else None,
                    name,
                    FAIL,
                    f"could not read ({error_code(exc)}): {exc}",
                    name,
                )
            )

    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region, purpose="poll")

    def plan_groups(self) -> list[dict[str, Any]]:
        if self._plan_groups is None:
            ec2 = self.client("ec2")
            self._plan_groups = [
                g
                for page in ec2.get_paginator("describe_security_groups").paginate(Filters=plan_filter(self.name))
                for g in page["SecurityGroups"]
            ]
        return self._plan_groups

    def regions(self) -> list[str]:
        spec = self.plan.spec
        return list(dict.fromkeys(r for r in (self.session.region, getattr(spec, "dr_region", None)) if r))


SECTION_CONTROL = {
    "transit": "PROV.18",
    "network": "EC2.6",
    "eks": "EKS.1",
    "launch_templates": "EC2.170",
    "rds": "RDS.2",
    "kms": "KMS.4",
    "iam": "IAM.1",
    "sqs": "SQS.1",
    "ecr": "ECR.1",
    "cloudtrail": "CloudTrail.1",
    "guardduty": "GuardDuty.1",
}


def expected_keys(plan: Plan) -> list[str]:
    spec = plan.spec
    if isinstance(spec, EnvironmentPlan):
        return ["eks/kms-key", "rds/kms-key"] + (["rds/dr-kms-key"] if spec.database.backup_replication else [])
    if isinstance(spec, SharedPlan):
        return ["shared/ecr/kms-key"]
    return ["organization/cloudtrail/kms-key"]


def decode_document(value: Any) -> Any:
    return json.loads(unquote(value)) if isinstance(value, str) else value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_statements(document: dict[str, Any]) -> list[str]:
    """Allow statements with a `*` action (or NotAction) on a `*` resource (IAM.1)."""
    found = []
    for statement in as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        if ("*" in actions or "NotAction" in statement) and "*" in resources:
            found.append(f"{statement.get('Sid') or 'statement'} allows * on *")
    return found


def denies_plain_http(policy: dict[str, Any]) -> bool:
    for statement in as_list(policy.get("Statement", [])):
        condition = statement.get("Condition", {}).get("Bool", {})
        if statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def from_world(permission: dict[str, Any]) -> bool:
    return any(r.get("CidrIp") in WORLD for r in permission.get("IpRanges", [])) or any(
        r.get("CidrIpv6") in WORLD for r in permission.get("Ipv6Ranges", [])
    )


def port_range(permission: dict[str, Any]) -> str:
    if str(permission.get("IpProtocol")) == "-1":
        return "all ports"
    low, high = permission.get("FromPort"), permission.get("ToPort")
    return f"{low}" if low == high else f"{low}-{high}"


def cidr_of(item: dict[str, Any]) -> str:
    return item.get("CidrIp") or item.get("CidrIpv6") or item.get("PrefixListId") or "?"


def admits_admin_ports(entry: dict[str, Any]) -> bool:
    """An allow ingress NACL entry from anywhere covering SSH (22) or RDP (3389)."""
    if entry.get("Egress") or entry.get("RuleAction") != "allow":
        return False
    if entry.get("CidrBlock") not in WORLD and entry.get("Ipv6CidrBlock") not in WORLD:
        return False
    protocol = str(entry.get("Protocol"))
    if protocol == "-1":
        return True
    if protocol not in ("6", "17", "tcp", "udp"):
        return False
    ports = entry.get("PortRange") or {}
    low, high = ports.get("From", 0), ports.get("To", 65535)
    return any(low <= port <= high for port in (22, 3389))
