"""`check organization` judges every account of the organization (issue 14): one row per
account and control, exit 0 after apply; a hand-made weakening in one member account makes it
exit 1 naming that account and the control."""

from __future__ import annotations

import json
from typing import Any

from provisioner.operations.check_accounts import ACCOUNT_CONTROLS
from tests.conftest import PLANS
from tests.steps.test_organization import account_ids, member

ACCOUNTS = ("management", "shared-services", "development", "staging", "production")


def rows(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for f in json.loads(result.out)["findings"]:
        if f["source"] == "live" and f["resource"].startswith("account/"):
            label = f["resource"].split("/", 1)[1].split(" ", 1)[0]
            assert (label, f["control"]) not in found, f  # one row per account and control
            found[(label, f["control"])] = f
    return found


def test_check_organization_lists_every_account_and_control_and_passes_after_apply(organization_applied, cli) -> None:
    result = cli("check", "organization", "--output", "json")
    assert result.code == 0, [f for f in json.loads(result.out)["findings"] if f["status"] != "pass"]
    found = rows(result)
    assert set(found) == {(a, c) for a in ACCOUNTS for c in ACCOUNT_CONTROLS}
    assert {f["status"] for f in found.values()} == {"pass"}
    assert {f["fsbp_id"] for f in found.values()} == {"EC2.15", "EC2.7", "S3.1", "GuardDuty.1", "CloudTrail.1", None}
    assert "organization trail" in found[("production", "CloudTrail.1")]["detail"]
    text = cli("check", "organization", "--verbose")
    assert text.code == 0 and "account/production (" in text.out and "PASS     PROV.15" in text.out


def test_check_organization_names_the_account_and_control_a_hand_made_change_breaks(
    organization_applied, cli, boto
) -> None:
    ids = {email.split("@")[0].removeprefix("aws-"): account for email, account in account_ids(boto).items()}
    # Staging: a default VPC made again by hand, its subnets mapping public IPs (as AWS makes them).
    staging = member(boto, ids["staging"], "ec2", "us-west-2")
    vpc = staging.create_default_vpc()["Vpc"]["VpcId"]
    # Development: EBS encryption by default switched off in one region.
    member(boto, ids["development"], "ec2", "us-east-1").disable_ebs_encryption_by_default()
    # Production: public IP mapping switched back on for a subnet of its own.
    production = member(boto, ids["production"], "ec2", "us-east-1")
    own = production.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = production.create_subnet(VpcId=own, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    production.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})

    result = cli("check", "organization", "--output", "json")
    assert result.code == 1
    failed = {key for key, f in rows(result).items() if f["status"] == "fail"}
    assert failed == {("staging", "PROV.15"), ("staging", "EC2.15"), ("development", "EC2.7"), ("production", "EC2.15")}
    found = rows(result)
    assert vpc in found[("staging", "PROV.15")]["detail"] and "us-west-2" in found[("staging", "PROV.15")]["detail"]
    assert found[("development", "EC2.7")]["detail"] == "off in us-east-1"
    assert subnet in found[("production", "EC2.15")]["detail"]
    text = cli("check", "organization")
    assert text.code == 1
    line = next(row for row in text.out.splitlines() if "EC2.7" in row and "FAIL" in row)
    assert f"account/development ({ids['development']})" in line

    # apply sets the baseline back; check passes again.
    assert cli("apply", "organization", "--yes").code == 0
    production.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": False})
    assert cli("check", "organization").code == 0


def test_check_organization_fails_a_member_without_guardduty_or_the_trail(organization_applied, cli, boto) -> None:
    ids = {email.split("@")[0].removeprefix("aws-"): account for email, account in account_ids(boto).items()}
    guardduty = member(boto, ids["production"], "guardduty", "us-west-2")
    guardduty.delete_detector(DetectorId=guardduty.list_detectors()["DetectorIds"][0])
    boto("cloudtrail").stop_logging(Name="innovate-organization-trail")
    result = cli("check", "organization", "--output", "json")
    assert result.code == 1
    found = rows(result)
    assert found[("production", "GuardDuty.1")]["status"] == "fail"
    assert "us-west-2 (no detector)" in found[("production", "GuardDuty.1")]["detail"]
    assert {found[(a, "CloudTrail.1")]["status"] for a in ACCOUNTS} == {"fail"}


def test_check_organization_before_any_apply_judges_the_management_account_alone(cli) -> None:
    result = cli("check", "organization", "--output", "json")
    assert result.code == 1
    found = rows(result)
    assert {label for label, _ in found} == {"management"}
    assert found[("management", "PROV.15")]["status"] == "fail"  # AWS's default VPCs are still there
    assert found[("management", "EC2.7")]["detail"] == "off in us-east-1, us-west-2"


def test_check_organization_passes_with_environments_in_their_own_accounts(cli) -> None:
    # The audit's setting: the shipped plans, prod in the production account.
    plans = ("--plans-dir", str(PLANS))
    applied = cli("apply", "organization", "shared", "prod", "--yes", *plans)
    assert applied.code == 0, applied.err[-3000:]
    result = cli("check", "organization", "--output", "json", *plans)
    assert result.code == 0, [f for f in json.loads(result.out)["findings"] if f["status"] not in ("pass", "warn")]
    assert {f["status"] for f in rows(result).values()} == {"pass"}
    prod = cli("check", "prod", "--output", "json", *plans)
    assert prod.code == 0, [f for f in json.loads(prod.out)["findings"] if f["status"] not in ("pass", "warn")]
    live = {(f["control"], f["status"]) for f in json.loads(prod.out)["findings"] if f["source"] == "live"}
    assert {("EC2.2", "pass"), ("EC2.6", "pass"), ("EC2.21", "pass"), ("RDS.23", "pass")} <= live
