"""Snapshots of the in-process sandbox (provisioner/sandbox/snapshot.py): a restore brings back
everything the sandbox held, cluster APIs included, and each restore is a fresh copy."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from provisioner.aws.eks_token import eks_token
from provisioner.kube.client import api_client
from provisioner.sandbox import kube_emulator, snapshot

AMI = "ami-12c6146b"  # one of moto's built-in images


def made_by_hand(boto) -> dict[str, str]:
    """A little of each kind of state: moto's EC2, IAM (with an AWS-managed policy attached, so
    the lazily loaded catalog is loaded), KMS, and the Organizations extension's accounts."""
    vpc = boto("ec2").create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    iam = boto("iam")
    iam.create_role(RoleName="kept", AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')
    iam.attach_role_policy(RoleName="kept", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    key = boto("kms").create_key()["KeyMetadata"]["KeyId"]
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(Email="kept@example.com", AccountName="kept")["CreateAccountStatus"]["Id"]
    account = orgs.describe_create_account_status(CreateAccountRequestId=request)["CreateAccountStatus"]["AccountId"]
    return {"vpc": vpc, "key": key, "account": account}


def assert_holds(boto, made: dict[str, str]) -> None:
    assert [v["VpcId"] for v in boto("ec2").describe_vpcs(VpcIds=[made["vpc"]])["Vpcs"]] == [made["vpc"]]
    attached = boto("iam").list_attached_role_policies(RoleName="kept")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["ReadOnlyAccess"]
    assert boto("kms").describe_key(KeyId=made["key"])["KeyMetadata"]["Enabled"] is True
    accounts = {a["Id"]: a["Status"] for a in boto("organizations").list_accounts()["Accounts"]}
    assert accounts[made["account"]] == "ACTIVE"


def test_restore_brings_back_what_the_sandbox_held_and_each_restore_is_a_fresh_copy(aws, boto, moto_server) -> None:
    made = made_by_hand(boto)
    taken = snapshot.take()

    moto_server.reset()
    assert snapshot.is_empty()
    snapshot.restore(taken)
    assert_holds(boto, made)
    # Changes after a restore do not reach the snapshot.
    boto("ec2").delete_vpc(VpcId=made["vpc"])
    boto("iam").detach_role_policy(RoleName="kept", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    boto("kms").disable_key(KeyId=made["key"])

    moto_server.reset()
    snapshot.restore(taken)
    assert_holds(boto, made)
    # The restored sandbox is a working one: it makes new resources as before.
    assert boto("ec2").create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"] != made["vpc"]


def test_an_account_made_after_the_snapshot_is_forgotten_by_the_restore(aws, boto, moto_server) -> None:
    made_by_hand(boto)
    taken = snapshot.take()
    orgs = boto("organizations")
    orgs.create_account(Email="later@example.com", AccountName="later")
    assert len(orgs.list_accounts()["Accounts"]) == 3

    moto_server.reset()
    snapshot.restore(taken)
    assert {a["Email"] for a in orgs.list_accounts()["Accounts"]} == {"kept@example.com", "master@example.com"}


def test_a_restored_subnet_hands_out_the_addresses_the_original_would(aws, boto, moto_server) -> None:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]

    def launch() -> str:
        (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"]
        return str(instance["PrivateIpAddress"])

    launch()
    taken = snapshot.take()
    without_restore = launch()
    moto_server.reset()
    snapshot.restore(taken)
    # AWS reserves .0 to .3 of every subnet (and the last): a copy must not start over at .1.
    assert launch() == without_restore and int(without_restore.rsplit(".", 1)[1]) > 4


def test_restore_refuses_a_sandbox_that_holds_something(aws, boto, moto_server) -> None:
    taken = snapshot.take()
    boto("ec2").create_vpc(CidrBlock="10.7.0.0/16")
    with pytest.raises(snapshot.SnapshotError, match="empty sandbox"):
        snapshot.restore(taken)


def test_a_cluster_api_comes_back_with_its_objects_at_its_endpoint_with_its_ca(aws, session_for, moto_server) -> None:
    url, ca = kube_emulator.endpoint_for("123456789012", "us-east-1", "kept")
    token = eks_token(session_for(), "kept")
    with api_client(url, ca, token) as api:
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": "made-before"}})
    taken = snapshot.take()
    with api_client(url, ca, token) as api:
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": "made-after"}})

    moto_server.reset()  # stops the cluster's API server
    assert kube_emulator.emulator_for("123456789012", "us-east-1", "kept") is None
    snapshot.restore(taken)
    # The same endpoint (applied manifests name it) and CA (kubeconfigs made before trust it).
    assert kube_emulator.endpoint_for("123456789012", "us-east-1", "kept") == (url, ca)
    with api_client(url, ca, token) as api:
        names = {n.metadata.name for n in k8s.CoreV1Api(api).list_namespace().items}
    assert "made-before" in names and "made-after" not in names and "kube-system" in names
