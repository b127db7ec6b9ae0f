"""The security baseline of SPEC section 9 as one table of controls, checked on a plan file.

Each control has an id: the AWS Foundational Security Best Practices (Security Hub) control
id where one matches (`EKS.8`, `RDS.5`, ...), otherwise our own `PROV.n`. The same ids are
used by the live check (`provisioner/operations/check/`), so a plan-side finding and a
live one about the same thing read alike.

`plan_findings(plan)` makes no call: it reports, per control and resource, `pass`, `warn` or
`fail` from what the plan file says. Most of the baseline is not configurable (the steps
always encrypt, require IMDSv2, keep RDS private, ...): those controls pass with "set by
provisioner". The few fields a plan may set are judged by how strict the plan is:

- strict plans (protected, named prod, or staging, see `protection.is_strict`): any weakening is
  a `fail`; validation refuses such a plan (checks.py turns every failing plan-side finding
  with a field path into a validation issue) and `apply` refuses it too;
- other plans (dev): a weakening is a `warn` when the control is `relaxable` (cost and
  lifecycle choices a dev environment legitimately makes: single-AZ, no deletion protection,
  no final snapshot, no DR copy, shorter backups, partial flow logs, a world-open public
  endpoint) and a `fail` otherwise (the private endpoint off, control-plane logs off). A
  failing dev plan can still be applied: `check` reports, validation only guards strict plans.

EKS.1: Security Hub fails any cluster with a public endpoint. The SPEC allows one limited to
listed CIDRs, so that is a `warn` (allowed, but Security Hub will flag it); off is a `pass`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from provisioner.planfile.catalog import EKS_LOG_TYPES, POSTGRES_DEFAULT_PORT, SUPPORTED_EKS_VERSIONS
from provisioner.planfile.model import EnvironmentPlan, OrganizationPlan, SharedPlan
from provisioner.planfile.protection import is_strict
from provisioner.planfile.sources import line_lookup
from provisioner.planfile.transit import ROUTE_TABLES, segment_matrix

PASS, WARN, FAIL, MISSING = "pass", "warn", "fail", "missing"
# Statuses that make `check` exit 1. A resource the plan should have but AWS does not is
# `missing`: its controls cannot hold (the plan is not applied, or someone deleted it).
FAILING = frozenset({FAIL, MISSING})
BUILT_IN = "set by provisioner (not configurable)"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    fsbp: bool = False
    # A non-strict plan may choose this weaker setting: warn there instead of fail.
    relaxable: bool = False


_CONTROLS = (
    Control("EC2.2", "VPC default security group allows no traffic", fsbp=True),
    Control("EC2.6", "VPC flow logs on, all traffic", fsbp=True, relaxable=True),
    Control("EC2.7", "EBS encryption by default on, in every allowed region", fsbp=True),
    Control("EC2.15", "No subnet assigns public IPv4 addresses on launch", fsbp=True),
    Control("EC2.18", "Security groups admit traffic from anywhere only on 80 and 443", fsbp=True),
    Control("EC2.21", "Network ACLs admit nothing from 0.0.0.0/0 to ports 22 or 3389", fsbp=True),
    Control("EC2.170", "Launch templates require IMDSv2 (hop limit 1)", fsbp=True),
    Control("EKS.1", "EKS public endpoint off, or limited to listed CIDRs", fsbp=True, relaxable=True),
    Control("EKS.2", "EKS cluster runs a supported Kubernetes version", fsbp=True),
    Control("EKS.3", "EKS secrets encrypted with a KMS key", fsbp=True),
    Control("EKS.8", "EKS audit logging on", fsbp=True),
    Control("RDS.23", "RDS instance does not listen on the engine's default port", fsbp=True),
    Control("RDS.2", "RDS instance not publicly accessible", fsbp=True),
    Control("RDS.3", "RDS storage encrypted with KMS", fsbp=True),
    Control("RDS.5", "RDS instance Multi-AZ", fsbp=True, relaxable=True),
    Control("RDS.8", "RDS deletion protection on", fsbp=True, relaxable=True),
    Control("RDS.9", "RDS logs exported to CloudWatch Logs", fsbp=True),
    Control("RDS.10", "RDS IAM database authentication on", fsbp=True),
    Control("RDS.11", "RDS automated backups kept 7 days or more", fsbp=True, relaxable=True),
    Control("RDS.13", "RDS automatic minor version upgrades on", fsbp=True),
    Control("RDS.17", "RDS copies tags to snapshots", fsbp=True),
    Control("ECR.1", "ECR scan on push", fsbp=True),
    Control("ECR.2", "ECR tags immutable", fsbp=True),
    Control("ECR.3", "ECR lifecycle policy set", fsbp=True),
    Control("ECR.5", "ECR encrypted with a customer managed KMS key", fsbp=True),
    Control("KMS.4", "KMS key rotation on", fsbp=True),
    Control("S3.1", "S3 Block Public Access on at account level", fsbp=True),
    Control("S3.5", "S3 bucket accepts TLS requests only", fsbp=True),
    Control("S3.8", "S3 bucket blocks public access", fsbp=True),
    Control("S3.17", "S3 bucket encrypted with KMS", fsbp=True),
    Control("CloudTrail.1", "Multi-region CloudTrail trail logging", fsbp=True),
    Control("CloudTrail.2", "CloudTrail logs encrypted with KMS", fsbp=True),
    Control("CloudTrail.4", "CloudTrail log file validation on", fsbp=True),
    Control("GuardDuty.1", "GuardDuty enabled", fsbp=True),
    Control("IAM.1", "No IAM policy allows * actions on * resources", fsbp=True),
    Control("SQS.1", "SQS queue encrypted at rest", fsbp=True),
    Control("PROV.1", "EKS private endpoint on"),
    Control("PROV.2", "EKS all five control-plane log types on"),
    Control("PROV.3", "EKS authentication by access entries only (no aws-auth ConfigMap)"),
    Control("PROV.4", "Karpenter's controller uses EKS Pod Identity"),
    Control("PROV.5", "Node root volumes encrypted"),
    Control("PROV.6", "Every subnet has the plan's network ACL"),
    Control("PROV.7", "RDS final snapshot kept on delete", relaxable=True),
    Control("PROV.8", "RDS automated backups replicated to the DR region", relaxable=True),
    Control("PROV.9", "RDS parameter rds.force_ssl on"),
    Control("PROV.10", "RDS master password managed in Secrets Manager"),
    Control("PROV.11", "Database admits its port only from the cluster's node security group"),
    Control("PROV.12", "SQS queue accepts TLS requests only"),
    Control("PROV.13", "GuardDuty auto-enabled for every organization account", relaxable=True),
    Control("PROV.14", "CloudTrail trail covers the whole organization"),
    # FSBP has no control for a default VPC's existence (EC2.2, EC2.6 and EC2.15 judge what is
    # in it); landing zones (Control Tower's account factory) remove it.
    Control("PROV.15", "No default VPC in any allowed region"),
    Control("PROV.18", "Transit Gateway segments keep prod and non-prod apart"),
)
CONTROLS: dict[str, Control] = {c.id: c for c in _CONTROLS}


@dataclass(frozen=True)
class Finding:
    """One control judged on one resource.

    `resource` is the plan's node key (`rds/instance`) or, live, the AWS id; `where` says
    where to look (the plan file and line, or the ARN / id). `path` is the plan field path
    (plan-side, configurable controls only), `expected` what the control wants.
    """

    control: str
    fsbp_id: str | None
    resource: str
    status: str
    detail: str
    where: str
    expected: str | None = None
    path: tuple[str | int, ...] | None = None

    @property
    def title(self) -> str:
        return CONTROLS[self.control].title

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        data["title"] = self.title
        return data


def finding(
    control: str,
    resource: str,
    ok: bool | None,
    detail: str,
    where: str,
    *,
    strict: bool = True,
    expected: str | None = None,
    path: tuple[str | int, ...] | None = None,
    warn: bool = False,
) -> Finding:
    """A finding of `control`: ok -> pass; not ok -> fail, or warn when the control is relaxable
    and the plan is not strict (or `warn` says it is allowed but worth flagging);
    ok None -> missing (the resource does not exist)."""
    spec = CONTROLS[control]
    if ok is None:
        status = MISSING
    elif ok:
        status = WARN if warn else PASS
    else:
        status = WARN if (spec.relaxable and not strict) else FAIL
    return Finding(control, spec.id if spec.fsbp else None, resource, status, detail, where, expected, path)


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status in FAILING]


# ------------------------------------------------------------------------------ plan side
def plan_findings(plan: Any) -> list[Finding]:
    """Plan-side findings for a loaded `Plan` (any kind); no AWS call."""
    spec = plan.spec
    where = str(plan.path)
    lines = line_lookup(plan.path)
    if isinstance(spec, EnvironmentPlan):
        found = environment_findings(spec, is_strict(spec, plan.name))
    elif isinstance(spec, SharedPlan):
        found = shared_findings(spec)
    elif isinstance(spec, OrganizationPlan):
        found = organization_findings(spec, is_strict(spec, plan.name))
    else:  # pragma: no cover - every plan kind is handled above
        found = []
    return [_located(f, where, lines) for f in found]


def _located(f: Finding, file: str, line_of: Any) -> Finding:
    if f.where != "":
        return f
    if f.path is None:
        return Finding(f.control, f.fsbp_id, f.resource, f.status, f.detail, BUILT_IN, f.expected, f.path)
    line = line_of(f.path)
    dotted = _dotted(f.path)
    place = f"{file}:{line}" if line else file
    return Finding(f.control, f.fsbp_id, f.resource, f.status, f.detail, f"{place}: {dotted}", f.expected, f.path)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def environment_findings(spec: EnvironmentPlan, strict: bool) -> list[Finding]:
    """The rule table for an environment plan. Findings with a `path` are the configurable
    ones; `where` is filled in by `plan_findings` (empty here)."""
    out: list[Finding] = []

    def add(
        control: str,
        resource: str,
        ok: bool,
        detail: str,
        expected: str | None = None,
        path: tuple[str | int, ...] | None = None,
        warn: bool = False,
    ) -> None:
        out.append(finding(control, resource, ok, detail, "", strict=strict, expected=expected, path=path, warn=warn))

    def built_in(control: str, resource: str, detail: str) -> None:
        add(control, resource, True, detail)

    # -- network
    traffic = spec.network.flow_logs.traffic_type
    add(
        "EC2.6",
        "network/flow-logs",
        traffic == "ALL",
        f"{traffic} only" if traffic != "ALL" else "all traffic",
        "ALL",
        ("network", "flow_logs", "traffic_type"),
    )
    built_in("EC2.2", "network/default-sg", "every rule of the VPC's default security group is revoked")
    built_in(
        "EC2.15", "network/subnets", "no subnet maps public IPs on launch (NAT and load balancers bring their own)"
    )
    built_in("PROV.6", "network/nacl", "a public and a private tier NACL, associated with every subnet")
    built_in(
        "EC2.21",
        "network/nacl",
        "no NACL entry admits 0.0.0.0/0 to 22 or 3389 (the return-traffic rules "
        "skip 3389; the default NACL is stripped of its allow rules)",
    )
    built_in("EC2.18", "security groups", "the plan's security groups admit nothing from anywhere")
    # -- EKS
    endpoint = spec.eks.endpoint
    add(
        "PROV.1",
        "eks/cluster",
        endpoint.private,
        "the private endpoint is off" if not endpoint.private else "on",
        "true",
        ("eks", "endpoint", "private"),
    )
    if not endpoint.public:
        add("EKS.1", "eks/cluster", True, "public endpoint off")
    elif not endpoint.public_cidrs:
        add(
            "EKS.1",
            "eks/cluster",
            False,
            "the public endpoint is open to 0.0.0.0/0",
            "listed CIDRs or public: false",
            ("eks", "endpoint", "public_cidrs"),
        )
    else:
        world = [(i, c) for i, c in enumerate(endpoint.public_cidrs) if ipaddress.IPv4Network(c).prefixlen == 0]
        for index, cidr in world:
            add(
                "EKS.1",
                "eks/cluster",
                False,
                f"{cidr} opens the API to the internet",
                "narrower CIDRs",
                ("eks", "endpoint", "public_cidrs", index),
            )
        if not world:
            add(
                "EKS.1",
                "eks/cluster",
                True,
                f"public endpoint limited to {', '.join(endpoint.public_cidrs)} "
                "(Security Hub flags any public endpoint)",
                path=("eks", "endpoint", "public_cidrs"),
                warn=True,
            )
    missing = [t for t in EKS_LOG_TYPES if t not in spec.eks.logging]
    add(
        "PROV.2",
        "eks/cluster",
        not missing,
        f"control-plane logs off: {', '.join(missing)}" if missing else "all five on",
        f"all of {', '.join(EKS_LOG_TYPES)}",
        ("eks", "logging"),
    )
    # EKS.8 shares PROV.2's field; validation reports the first finding per field (PROV.2).
    add(
        "EKS.8",
        "eks/cluster",
        "audit" in spec.eks.logging,
        "audit log on" if "audit" in spec.eks.logging else "audit log off",
        "audit in eks.logging",
        ("eks", "logging"),
    )
    add(
        "EKS.2",
        "eks/cluster",
        spec.eks.version in SUPPORTED_EKS_VERSIONS,
        f"Kubernetes {spec.eks.version}",
        ", ".join(SUPPORTED_EKS_VERSIONS),
        ("eks", "version"),
    )
    built_in("EKS.3", "eks/cluster", "secrets envelope-encrypted with eks/kms-key")
    built_in("PROV.3", "eks/cluster", "authentication mode API (access entries), no aws-auth ConfigMap")
    built_in("PROV.4", "karpenter/pod-identity", "Karpenter's controller role is bound by a Pod Identity association")
    built_in("EC2.170", "eks/launch-template/system", "HttpTokens required, hop limit 1")
    built_in("PROV.5", "eks/launch-template/system", "encrypted gp3 root volume (EC2NodeClass too)")
    # -- RDS
    db = spec.database
    for control, field, wanted, good in (
        ("RDS.5", "multi_az", True, "Multi-AZ"),
        ("RDS.8", "deletion_protection", True, "deletion protection on"),
        ("PROV.7", "skip_final_snapshot", False, "final snapshot kept"),
        ("PROV.8", "backup_replication", True, "automated backups replicated"),
    ):
        value = getattr(db, field)
        add(
            control,
            "rds/instance",
            value == wanted,
            f"{field}: {str(value).lower()}" if value != wanted else good,
            str(wanted).lower(),
            ("database", field),
        )
    add(
        "RDS.11",
        "rds/instance",
        db.backup_retention_days >= 7,
        f"{db.backup_retention_days} days",
        "7 or more",
        ("database", "backup_retention_days"),
    )
    built_in("RDS.2", "rds/instance", "PubliclyAccessible false")
    built_in("RDS.3", "rds/instance", "storage encrypted with rds/kms-key")
    built_in("RDS.9", "rds/instance", "postgresql and upgrade logs exported")
    built_in("RDS.10", "rds/instance", "IAM database authentication on")
    built_in("RDS.13", "rds/instance", "automatic minor version upgrades on")
    built_in("RDS.17", "rds/instance", "tags copied to snapshots")
    built_in("PROV.10", "rds/instance", "ManageMasterUserPassword: RDS keeps the password in Secrets Manager")
    built_in("PROV.9", "rds/parameter-group", "rds.force_ssl = 1")
    add(
        "RDS.23",
        "rds/instance",
        db.port != POSTGRES_DEFAULT_PORT,
        f"port {db.port}" + (" (PostgreSQL's default)" if db.port == POSTGRES_DEFAULT_PORT else ""),
        f"a port other than {POSTGRES_DEFAULT_PORT}",
        ("database", "port"),
    )
    built_in("PROV.11", "rds/security-group", f"{db.port} from eks/node-security-group only, no egress")
    # -- KMS, IAM, SQS
    for key in ("eks/kms-key", "rds/kms-key", *(("rds/dr-kms-key",) if db.backup_replication else ())):
        built_in("KMS.4", key, "automatic rotation on")
    built_in("IAM.1", "iam roles", "every policy is scoped (checked live and by iam-policy)")
    built_in("SQS.1", "karpenter/interruption-queue", "SQS-managed server-side encryption")
    built_in("PROV.12", "karpenter/interruption-queue", "the queue policy denies requests without TLS")
    return out


def shared_findings(spec: SharedPlan) -> list[Finding]:
    out: list[Finding] = []
    for repo in spec.ecr.repositories:
        resource = f"ecr/{repo.name}"
        for control, detail in (
            ("ECR.1", "scan on push"),
            ("ECR.2", "IMMUTABLE tags"),
            (
                "ECR.3",
                f"lifecycle: untagged after {spec.ecr.untagged_expire_days} days, keep {spec.ecr.keep_tagged_images} tagged",
            ),
            ("ECR.5", "encrypted with shared/ecr/kms-key"),
        ):
            out.append(finding(control, resource, True, detail, ""))
    out.append(finding("KMS.4", "shared/ecr/kms-key", True, "automatic rotation on", ""))
    out.append(
        finding(
            "IAM.1",
            "shared/ci/deploy-role",
            True,
            f"trusted only for {spec.ci.repository} "
            f"({', '.join(spec.ci.branches)}); ECR push to the plan's repositories only",
            "",
        )
    )
    if spec.network is not None:
        matrix = segment_matrix({s: s for s in ROUTE_TABLES})
        out.append(
            finding(
                "PROV.18",
                "shared/transit/gateway",
                not matrix["prod"]["nonprod"] and not matrix["nonprod"]["prod"],
                "; ".join(f"{a} -> {b}: {'yes' if matrix[a][b] else 'no'}" for a in matrix for b in matrix if a != b),
                "network",
            )
        )
    return out


def organization_findings(spec: OrganizationPlan, strict: bool) -> list[Finding]:
    out: list[Finding] = []
    for region in spec.guardduty.regions:
        out.append(
            finding(
                "GuardDuty.1",
                f"guardduty/{region}",
                True,
                f"detector in {region}, delegated admin {spec.guardduty.delegated_admin}",
                "",
            )
        )
    auto = spec.guardduty.auto_enable
    out.append(
        finding(
            "PROV.13",
            "guardduty/auto-enable",
            auto == "ALL",
            "every account" if auto == "ALL" else f"{auto} accounts only",
            "",
            strict=strict,
            expected="ALL",
            path=("guardduty", "auto_enable"),
        )
    )
    trail = f"cloudtrail/{spec.cloudtrail.name}"
    for control, detail in (
        ("CloudTrail.1", "multi-region trail, logging on"),
        ("CloudTrail.2", "encrypted with the trail's KMS key"),
        ("CloudTrail.4", "log file validation on"),
        ("PROV.14", "organization trail"),
    ):
        out.append(finding(control, trail, True, detail, ""))
    for control, detail in (
        ("S3.5", "bucket policy denies requests without TLS"),
        ("S3.8", "all four public access blocks on"),
        ("S3.17", "SSE-KMS with the trail's key"),
    ):
        out.append(finding(control, "organization/cloudtrail/bucket", True, detail, ""))
    out.append(finding("KMS.4", "organization/cloudtrail/kms-key", True, "automatic rotation on", ""))
    baseline = spec.account_baseline
    regions = ", ".join(spec.allowed_regions)
    scope = "every account" + (
        " and the management account" if baseline.management_account else " (not the management account)"
    )
    for control, field, detail in (
        ("PROV.15", "remove_default_vpcs", f"default VPCs removed in {regions}, {scope}"),
        ("EC2.7", "ebs_encryption_by_default", f"EBS encryption by default in {regions}, {scope}"),
        ("S3.1", "s3_block_public_access", f"account-level S3 Block Public Access, {scope}"),
    ):
        on = getattr(baseline, field)
        out.append(
            finding(
                control,
                "organization/baseline",
                on,
                detail if on else f"account_baseline.{field}: false",
                "",
                strict=strict,
                expected="true",
                path=("account_baseline", field),
            )
        )
    return out
