"""Idempotency tokens (issue 13 item 8): a create retried after its response was lost (a
crash, a timeout) sends the same token and makes nothing twice; the sandbox honours EC2's
ClientToken where moto ignores it, and EKS's clientRequestToken."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.engine import RunContext
from provisioner.planfile import load_plan
from provisioner.steps.eks.launch_templates import LaunchTemplate
from provisioner.steps.network.network_acls import NetworkAcl
from provisioner.steps.network.route_tables import RouteTable
from tests.conftest import PLANS

DEV = load_plan("dev", PLANS)


def context(session: Any, vpc_id: str) -> RunContext:
    ctx = RunContext(plan=DEV, aws=session)
    ctx.refs.set("@plan", "plan", ctx.plan_refs())
    ctx.refs.set("network/vpc", "ec2:vpc", {"id": vpc_id})
    return ctx


def owned(ec2: Any, describe: str, result: str) -> list[dict[str, Any]]:
    return getattr(ec2, describe)(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])[result]


def test_route_table_and_network_acl_created_twice_are_one(session_for, boto) -> None:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ctx = context(session_for(), vpc)
    ctx.refs.set("network/igw", "ec2:internet-gateway", {"id": igw})
    table = RouteTable(key="network/route-table/test", vpc="network/vpc", routes={"0.0.0.0/0": "network/igw"})
    acl = NetworkAcl(key="network/nacl/test", vpc="network/vpc", vpc_cidr="10.9.0.0/16", tier="private")
    for node in (table, acl):
        first = node.create(ctx, node.desired(ctx.refs))
        again = node.create(ctx, node.desired(ctx.refs))  # the retry after a lost response
        assert again.id == first.id
    assert len(owned(ec2, "describe_route_tables", "RouteTables")) == 1
    assert len(owned(ec2, "describe_network_acls", "NetworkAcls")) == 1


def test_launch_template_version_created_twice_is_one(session_for, boto) -> None:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ctx = context(session_for(), vpc)
    ctx.refs.set("eks/node-security-group", "ec2:security-group", {"id": group})
    node = LaunchTemplate(
        key="eks/launch-template/test", name="dev-test", security_groups=("eks/node-security-group",), volume_gib=50
    )
    live = node.create(ctx, node.desired(ctx.refs))
    bigger = LaunchTemplate(key=node.key, name="dev-test", security_groups=node.security_groups, volume_gib=80)
    want = bigger.desired(ctx.refs)
    diff = {"root_volume": {}}
    bigger.update(ctx, want, live, diff)
    bigger.update(ctx, want, live, diff)  # retried
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=live.id)["LaunchTemplateVersions"]
    assert sorted(v["VersionNumber"] for v in versions) == [1, 2]


def test_sandbox_answers_a_repeated_client_token_with_the_first_result(boto) -> None:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_route_table(VpcId=vpc, ClientToken="tok")["RouteTable"]["RouteTableId"]
    assert ec2.create_route_table(VpcId=vpc, ClientToken="tok")["RouteTable"]["RouteTableId"] == a
    with pytest.raises(ClientError) as raised:
        ec2.create_route_table(VpcId=other, ClientToken="tok")
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    n = ec2.create_network_acl(VpcId=vpc, ClientToken="tok")["NetworkAcl"]["NetworkAclId"]
    assert ec2.create_network_acl(VpcId=vpc, ClientToken="tok")["NetworkAcl"]["NetworkAclId"] == n
    # Without a token every call is a new resource, as on EC2.
    assert ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] != a
    # Once the resource is gone, the token makes a new one (the sandbox's choice; EC2 keeps
    # tokens for a while, which the tool never relies on: it salts tokens with the VPC).
    ec2.delete_route_table(RouteTableId=a)
    assert ec2.create_route_table(VpcId=vpc, ClientToken="tok")["RouteTable"]["RouteTableId"] != a
