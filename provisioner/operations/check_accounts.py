"""`check organization`, account by account: the account baseline in every account of the
organization, not only in the management account.

For every ACTIVE account ListAccounts returns (the management account with the run's own
credentials, each member through the organization access role), one finding per account and
control, the regions folded into its detail:

- PROV.15: no default VPC in any allowed region (FSBP has no control for a default VPC's
  existence; landing zones remove them);
- EC2.15: no subnet maps public IPv4 addresses on launch, in any allowed region (a default
  subnet does, and so does one someone switched back on by hand);
- EC2.7: EBS encryption by default on in every allowed region;
- S3.1: S3 Block Public Access on at account level (all four flags);
- GuardDuty.1: an ENABLED detector in every region the plan's GuardDuty covers (members get
  theirs from the organization's auto-enable);
- CloudTrail.1: a multi-region trail that is logging, as the account sees it (members see
  the organization trail of the management account in their own DescribeTrails).

An account the access role cannot reach fails each control with the reason. The management
account, when the plan's `account_baseline.management_account` is false, is judged anyway;
its baseline findings are then `warn` (outside the plan's baseline by choice). Reads only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.aws.accounts import assume_role, list_accounts
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.session import AwsSession
from provisioner.engine import ProvisionerError
from provisioner.planfile import OrganizationPlan, Plan
from provisioner.planfile.baseline import WARN, Finding, finding

__all__ = ["ACCOUNT_CONTROLS", "account_findings"]

ACCOUNT_CONTROLS = ("PROV.15", "EC2.15", "EC2.7", "S3.1", "GuardDuty.1", "CloudTrail.1")
# Controls the account baseline sets (the others come from GuardDuty and CloudTrail).
BASELINE_CONTROLS = frozenset({"PROV.15", "EC2.15", "EC2.7", "S3.1"})
BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def account_findings(session: AwsSession, plan: Plan) -> list[Finding]:
    """One finding per account of the organization and control (see the module docstring)."""
    spec = plan.spec
    assert isinstance(spec, OrganizationPlan)
    names = {a.email.lower(): key for key, a in spec.accounts.items()}
    management = session.account_id
    findings: list[Finding] = []
    try:
        listed = list_accounts(session)
    except ClientError as exc:
        if error_code(exc) != "AWSOrganizationsNotInUseException":
            return [
                finding(
                    control,
                    "account/*",
                    False,
                    f"cannot list the organization's accounts ({error_code(exc)}): {exc}",
                    management,
                )
                for control in ACCOUNT_CONTROLS
            ]
        listed = [{"Id": management, "Status": "ACTIVE"}]  # no organization yet: this account alone
    accounts = sorted(
        (a for a in listed if a.get("Status") == "ACTIVE"),
        key=lambda a: (a["Id"] != management, names.get(str(a.get("Email", "")).lower(), a.get("Name", ""))),
    )
    for account in accounts:
        account_id = str(account["Id"])
        label = (
            "management"
            if account_id == management
            else names.get(str(account.get("Email", "")).lower(), account.get("Name", "?"))
        )
        resource = f"account/{label} ({account_id})"
        excluded = account_id == management and not spec.account_baseline.management_account
        try:
            reader = (
                session
                if account_id == management
                else assume_role(session, account_id, spec.access_role_name, f"provisioner-check-{plan.name}")
            )
        except ProvisionerError as exc:
            for control in ACCOUNT_CONTROLS:
                findings.append(
                    finding(control, resource, False, f"cannot read the account: {exc.message}", account_id)
                )
            continue
        audit = _Account(reader, spec, resource, account_id)
        for control, judge in audit.judges():
            try:
                ok, detail = judge()
            except ClientError as exc:
                ok, detail = False, f"could not read ({error_code(exc)}): {exc}"
            result = finding(control, resource, ok, detail, f"{account_id} {audit.scope(control)}")
            if excluded and control in BASELINE_CONTROLS and not ok:
                result = Finding(
                    result.control,
                    result.fsbp_id,
                    resource,
                    WARN,
                    detail + " (the plan leaves the management account out of the baseline)",
                    result.where,
                )
            findings.append(result)
    return findings


class _Account:
    def __init__(self, session: Any, spec: OrganizationPlan, resource: str, account_id: str):
        self.session = session
        self.spec = spec
        self.resource = resource
        self.account_id = account_id

    def client(self, service: str, region: str) -> Any:
        return self.session.client(service, region, purpose="poll")

    def scope(self, control: str) -> str:
        if control == "GuardDuty.1":
            return ", ".join(self.spec.guardduty.regions)
        if control in ("S3.1", "CloudTrail.1"):
            return self.spec.region
        return ", ".join(self.spec.allowed_regions)

    def judges(self) -> list[tuple[str, Callable[[], tuple[bool, str]]]]:
        return [
            ("PROV.15", self.default_vpcs),
            ("EC2.15", self.public_ip_subnets),
            ("EC2.7", self.ebs_encryption),
            ("S3.1", self.public_access_block),
            ("GuardDuty.1", self.guardduty),
            ("CloudTrail.1", self.trail),
        ]

    def default_vpcs(self) -> tuple[bool, str]:
        found = []
        for region in self.spec.allowed_regions:
            vpcs = self.client("ec2", region).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
                "Vpcs"
            ]
            found += [f"{v['VpcId']} in {region}" for v in vpcs]
        return not found, "no default VPC" if not found else f"default VPC {', '.join(found)}"

    def public_ip_subnets(self) -> tuple[bool, str]:
        found = []
        for region in self.spec.allowed_regions:
            ec2 = self.client("ec2", region)
            subnets = [
                s
                for page in ec2.get_paginator("describe_subnets").paginate(
                    Filters=[{"Name": "map-public-ip-on-launch", "Values": ["true"]}]
                )
                for s in page["Subnets"]
            ]
            found += [f"{s['SubnetId']} ({region}, {s.get('VpcId')})" for s in subnets if s.get("MapPublicIpOnLaunch")]
        return (
            not found,
            "no subnet maps public IPs on launch" if not found else f"maps public IPs on launch: {', '.join(found)}",
        )

    def ebs_encryption(self) -> tuple[bool, str]:
        off = [
            r
            for r in self.spec.allowed_regions
            if not self.client("ec2", r).get_ebs_encryption_by_default().get("EbsEncryptionByDefault")
        ]
        return not off, "on in every allowed region" if not off else f"off in {', '.join(off)}"

    def public_access_block(self) -> tuple[bool, str]:
        try:
            block = self.client("s3control", self.spec.region).get_public_access_block(AccountId=self.account_id)[
                "PublicAccessBlockConfiguration"
            ]
        except ClientError as exc:
            if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        off = [f for f in BPA_FLAGS if not block.get(f)]
        return not off, "all four flags on" if not off else ("not set" if not block else f"off: {', '.join(off)}")

    def guardduty(self) -> tuple[bool, str]:
        missing = []
        for region in self.spec.guardduty.regions:
            guardduty = self.client("guardduty", region)
            detectors = guardduty.list_detectors().get("DetectorIds", [])
            status = guardduty.get_detector(DetectorId=detectors[0]).get("Status") if detectors else None
            if status != "ENABLED":
                missing.append(f"{region} ({'no detector' if status is None else status})")
        return (
            not missing,
            "detector enabled in every region" if not missing else f"not enabled in {', '.join(missing)}",
        )

    def trail(self) -> tuple[bool, str]:
        cloudtrail = self.client("cloudtrail", self.spec.region)
        problems = []
        for trail in cloudtrail.describe_trails().get("trailList", []):
            if not trail.get("IsMultiRegionTrail"):
                continue
            arn = trail.get("TrailARN", trail.get("Name"))
            if cloudtrail.get_trail_status(Name=arn).get("IsLogging"):
                kind = "organization trail" if trail.get("IsOrganizationTrail") else "trail"
                return True, f"multi-region {kind} {arn} logging"
            problems.append(f"{arn} not logging")
        return False, "; ".join(problems) or "no multi-region trail"
