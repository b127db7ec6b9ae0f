"""Organization-wide effects the sandbox reproduces as AWS does (issue 14): GuardDuty
auto-enable, the organization trail seen from member accounts, default VPCs in a new account,
EBS encryption by default on new volumes. Through boto3, as an auditor would look."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.test_organizations_api import create_account, in_member, org  # noqa: F401 - fixture

MANAGEMENT = "123456789012"


def admin_detector(boto: Any, admin: str, auto_enable: str) -> Any:
    boto("guardduty").enable_organization_admin_account(AdminAccountId=admin)
    guardduty = in_member(boto, admin, "guardduty")
    (detector,) = guardduty.list_detectors()["DetectorIds"]
    guardduty.update_organization_configuration(DetectorId=detector, AutoEnableOrganizationMembers=auto_enable)
    return guardduty


def detectors(boto: Any, account: str, region: str = "us-east-1") -> list[str]:
    client = boto("guardduty", region) if account == MANAGEMENT else in_member(boto, account, "guardduty", region)
    return list(client.list_detectors()["DetectorIds"])


# ---------------------------------------------------------------------------- GuardDuty
def test_auto_enable_all_gives_existing_and_new_members_a_detector(org, boto) -> None:
    existing = create_account(org["orgs"], "existing@example.com", "existing")
    assert detectors(boto, existing) == []
    admin_detector(boto, org["member"], "ALL")
    assert len(detectors(boto, existing)) == 1
    assert len(detectors(boto, MANAGEMENT)) == 1  # "all accounts in the organization"
    assert detectors(boto, existing, "us-west-2") == []  # only where the administrator set it
    (detector,) = detectors(boto, existing)
    assert in_member(boto, existing, "guardduty").get_detector(DetectorId=detector)["Status"] == "ENABLED"

    joined = create_account(org["orgs"], "joined@example.com", "joined")
    assert len(detectors(boto, joined)) == 1
    # Enabled once: a detector deleted afterwards is not made again behind the user's back.
    in_member(boto, joined, "guardduty").delete_detector(DetectorId=detectors(boto, joined)[0])
    assert detectors(boto, joined) == []


def test_auto_enable_new_leaves_existing_members_alone(org, boto) -> None:
    existing = create_account(org["orgs"], "existing@example.com", "existing")
    admin_detector(boto, org["member"], "NEW")
    assert detectors(boto, existing) == [] and detectors(boto, MANAGEMENT) == []
    joined = create_account(org["orgs"], "joined@example.com", "joined")
    assert len(detectors(boto, joined)) == 1


def test_without_auto_enable_members_get_no_detector(org, boto) -> None:
    boto("guardduty").enable_organization_admin_account(AdminAccountId=org["member"])
    joined = create_account(org["orgs"], "joined@example.com", "joined")
    assert detectors(boto, joined) == []


# ---------------------------------------------------------------------------- CloudTrail
def organization_trail(org: dict[str, Any], boto: Any) -> dict[str, Any]:
    s3, _kms, cloudtrail = boto("s3"), boto("kms"), boto("cloudtrail")
    org["orgs"].enable_aws_service_access(ServicePrincipal="cloudtrail.amazonaws.com")
    s3.create_bucket(Bucket="org-trail-logs")
    org_id = org["orgs"].describe_organization()["Organization"]["Id"]
    service = {"Service": "cloudtrail.amazonaws.com"}
    s3.put_bucket_policy(
        Bucket="org-trail-logs",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:GetBucketAcl",
                        "Resource": "arn:aws:s3:::org-trail-logs",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::org-trail-logs/AWSLogs/{org_id}/*",
                    },
                ],
            }
        ),
    )
    trail = cloudtrail.create_trail(
        Name="org-trail", S3BucketName="org-trail-logs", IsOrganizationTrail=True, IsMultiRegionTrail=True
    )
    cloudtrail.start_logging(Name="org-trail")
    return trail


def test_the_organization_trail_is_listed_in_every_member_account_and_region(org, boto) -> None:
    trail = organization_trail(org, boto)
    for region in ("us-east-1", "us-west-2"):
        member = in_member(boto, org["member"], "cloudtrail", region)
        (seen,) = member.describe_trails()["trailList"]
        assert seen["TrailARN"] == trail["TrailARN"] and f":{MANAGEMENT}:trail/" in seen["TrailARN"]
        assert seen["IsOrganizationTrail"] is True and seen["IsMultiRegionTrail"] is True
        assert seen["HomeRegion"] == "us-east-1"
        assert member.get_trail_status(Name=seen["TrailARN"])["IsLogging"] is True
        assert member.get_trail(Name=seen["TrailARN"])["Trail"]["IsOrganizationTrail"] is True
        assert member.get_event_selectors(TrailName=seen["TrailARN"])["TrailARN"] == trail["TrailARN"]
    member = in_member(boto, org["member"], "cloudtrail")
    assert member.describe_trails(trailNameList=["org-trail"])["trailList"][0]["TrailARN"] == trail["TrailARN"]
    assert member.describe_trails(trailNameList=["other"])["trailList"] == []
    # The member still cannot change it, and its own trails are listed beside it.
    with pytest.raises(ClientError):
        member.delete_trail(Name="org-trail")
    # The status is the management account's trail's, read live.
    boto("cloudtrail").stop_logging(Name="org-trail")
    assert member.get_trail_status(Name=trail["TrailARN"])["IsLogging"] is False


# ---------------------------------------------------------------------------- EC2 defaults
def test_a_new_account_has_a_default_vpc_in_every_region_as_aws_makes_it(org, boto) -> None:
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        ec2 = in_member(boto, org["member"], "ec2", region)
        (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        assert vpc["CidrBlock"] == "172.31.0.0/16"
        by_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
        zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
        assert {s["AvailabilityZone"] for s in subnets} == zones
        assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] for s in subnets)
        (igw,) = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
            "InternetGateways"
        ]
        (main,) = ec2.describe_route_tables(Filters=by_vpc + [{"Name": "association.main", "Values": ["true"]}])[
            "RouteTables"
        ]
        assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw["InternetGatewayId"]}.items() <= next(
            r for r in main["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
        ).items()
        (acl,) = ec2.describe_network_acls(Filters=by_vpc + [{"Name": "default", "Values": ["true"]}])["NetworkAcls"]
        assert any(
            e["RuleAction"] == "allow" and e["CidrBlock"] == "0.0.0.0/0" and not e["Egress"] for e in acl["Entries"]
        )
        (group,) = ec2.describe_security_groups(Filters=by_vpc + [{"Name": "group-name", "Values": ["default"]}])[
            "SecurityGroups"
        ]
        assert group["IpPermissionsEgress"]


def test_ebs_encryption_by_default_encrypts_volumes_created_afterwards(boto) -> None:
    ec2 = boto("ec2", "us-west-2")
    before = ec2.create_volume(AvailabilityZone="us-west-2a", Size=10)
    assert before["Encrypted"] is False
    assert ec2.enable_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    after = ec2.create_volume(AvailabilityZone="us-west-2a", Size=10)
    assert after["Encrypted"] is True and after.get("KmsKeyId")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][
        0
    ]
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}])[
        "Volumes"
    ]
    assert volumes and all(v["Encrypted"] for v in volumes)
    # Per region, and the existing volume stays as it was.
    assert boto("ec2", "us-east-1").create_volume(AvailabilityZone="us-east-1a", Size=10)["Encrypted"] is False
    assert ec2.describe_volumes(VolumeIds=[before["VolumeId"]])["Volumes"][0]["Encrypted"] is False
    ec2.disable_ebs_encryption_by_default()
    assert ec2.create_volume(AvailabilityZone="us-west-2a", Size=10)["Encrypted"] is False
