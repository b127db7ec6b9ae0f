"""`check ENV` on live resources: prod applied in the sandbox passes; weakened by hand, fails
naming the control; a plan that is not applied reports its resources missing."""

from __future__ import annotations

import json
from typing import Any

from provisioner.constants import TAG_KEY, TAG_PLAN


def failing(result: Any) -> set[tuple[str, str]]:
    document = json.loads(result.out)
    return {
        (f["control"], f["resource"])
        for f in document["findings"]
        if f["source"] == "live" and f["status"] in ("fail", "missing")
    }


def test_check_prod_passes_after_apply_and_fails_on_each_hand_made_weakening(cli, boto) -> None:
    assert cli("apply", "prod", "--yes").code == 0
    result = cli("check", "prod", "--output", "json")
    assert result.code == 0, [f for f in json.loads(result.out)["findings"] if f["status"] != "pass"]
    document = json.loads(result.out)
    assert document["status"] == "pass" and document["summary"]["fail"] == document["summary"]["missing"] == 0
    live = {f["control"] for f in document["findings"] if f["source"] == "live" and f["status"] == "pass"}
    assert {
        "EC2.2",
        "EC2.6",
        "EC2.170",
        "EKS.3",
        "EKS.8",
        "RDS.2",
        "RDS.3",
        "RDS.5",
        "RDS.8",
        "KMS.4",
        "IAM.1",
        "SQS.1",
        "PROV.9",
        "PROV.11",
    } <= live

    ec2, rds = boto("ec2"), boto("rds")
    rds.modify_db_instance(DBInstanceIdentifier="prod-postgres", PubliclyAccessible=True, ApplyImmediately=True)
    vpc = ec2.describe_vpcs(Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": ["prod"]}])["Vpcs"][0]["VpcId"]
    default = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(
        GroupId=default["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    (flow_log,) = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]
    ec2.delete_flow_logs(FlowLogIds=[flow_log["FlowLogId"]])
    db_group = next(
        g
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
        if {"Key": TAG_KEY, "Value": "rds/security-group"} in g.get("Tags", [])
    )
    ec2.authorize_security_group_ingress(
        GroupId=db_group["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    kms = boto("kms")
    kms.disable_key_rotation(KeyId=kms.describe_key(KeyId="alias/provisioner/prod/eks-secrets")["KeyMetadata"]["KeyId"])
    # RDP opened to the world on the private tier's NACL, between the plan's own rules.
    private_acl = ec2.describe_network_acls(
        Filters=[
            {"Name": f"tag:{TAG_KEY}", "Values": ["network/nacl/private"]},
            {"Name": f"tag:{TAG_PLAN}", "Values": ["prod"]},
        ]
    )["NetworkAcls"][0]
    ec2.create_network_acl_entry(
        NetworkAclId=private_acl["NetworkAclId"],
        RuleNumber=105,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 3389, "To": 3389},
    )

    weakened = cli("check", "prod", "--output", "json")
    assert weakened.code == 1
    assert {
        ("RDS.2", "rds/instance"),
        ("EC2.2", "network/default-sg"),
        ("EC2.6", "network/flow-logs"),
        ("PROV.11", "rds/security-group"),
        ("EC2.18", "rds/security-group"),
        ("KMS.4", "eks/kms-key"),
        ("EC2.21", "network/nacl/private"),
    } <= failing(weakened)
    text = cli("check", "prod")
    assert text.code == 1
    assert "FAIL     RDS.2" in text.out and "PubliclyAccessible true" in text.out
    assert "FAIL     EC2.2" in text.out and "PASS" not in text.out  # passes only with --verbose


def test_check_plan_not_applied_reports_its_resources_missing(cli) -> None:
    result = cli("check", "dev", "--output", "json")
    assert result.code == 1
    document = json.loads(result.out)
    missing = {f["control"] for f in document["findings"] if f["status"] == "missing"}
    assert {"EC2.6", "EKS.1", "RDS.2", "EC2.170", "KMS.4", "SQS.1"} <= missing
    assert document["summary"]["fail"] == 0  # the plan itself is fine; nothing exists yet


def test_check_dev_after_apply_warns_on_what_dev_relaxes(dev_applied, cli, boto) -> None:
    result = cli("check", "dev", "--output", "json")
    assert result.code == 0, result.out
    findings = json.loads(result.out)["findings"]
    warned = {(f["source"], f["control"]) for f in findings if f["status"] == "warn"}
    assert {("live", "RDS.5"), ("live", "RDS.8"), ("live", "PROV.8"), ("plan", "RDS.5")} <= warned
    live = {(f["control"], f["resource"]): f for f in findings if f["source"] == "live"}
    assert live[("EC2.21", "network/default-nacl")]["status"] == "pass"  # stripped, not merely unused
    assert (
        live[("RDS.23", "rds/instance")]["status"] == "pass"
        and live[("RDS.23", "rds/instance")]["detail"] == "port 5433"
    )

    # The default NACL opened again by hand fails EC2.21, naming it.
    ec2 = boto("ec2")
    (acl,) = ec2.describe_network_acls(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": ["network/default-nacl"]}])[
        "NetworkAcls"
    ]
    ec2.create_network_acl_entry(
        NetworkAclId=acl["NetworkAclId"],
        RuleNumber=100,
        Protocol="-1",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
    )
    opened = cli("check", "dev", "--output", "json")
    assert opened.code == 1 and failing(opened) == {("EC2.21", "network/default-nacl")}


def test_check_shared_fails_when_scan_on_push_is_turned_off(organization_applied, cli, boto) -> None:
    assert cli("apply", "shared", "--yes").code == 0
    passed = cli("check", "shared", "--output", "json")
    assert passed.code == 0, passed.out
    # The repositories live in the Shared Services account: act there as an operator would.
    account = json.loads(passed.out)["account"]
    credentials = boto("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="weaken"
    )["Credentials"]
    import boto3

    ecr = boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=boto("sts").meta.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    ecr.put_image_scanning_configuration(
        repositoryName="innovate/backend", imageScanningConfiguration={"scanOnPush": False}
    )
    result = cli("check", "shared", "--output", "json")
    assert result.code == 1
    assert failing(result) == {("ECR.1", "ecr/innovate/backend")}


def test_check_organization_after_apply_passes(organization_applied, cli) -> None:
    result = cli("check", "organization", "--output", "json")
    assert result.code == 0, [f for f in json.loads(result.out)["findings"] if f["status"] != "pass"]
    live = {f["control"] for f in json.loads(result.out)["findings"] if f["source"] == "live"}
    assert {"CloudTrail.1", "CloudTrail.2", "CloudTrail.4", "S3.5", "S3.8", "S3.17", "GuardDuty.1", "KMS.4"} <= live
