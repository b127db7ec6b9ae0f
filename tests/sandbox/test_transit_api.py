"""The sandbox's Transit Gateways (sandbox/transit/): what AWS does and moto does not.
Accounts come from moto's STS (assume a role in another account id: a new account)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.constants import ownership_tags
from provisioner.engine import Action
from provisioner.engine.tags import with_record
from provisioner.planfile import load_plan
from provisioner.sandbox.server import set_latency
from provisioner.steps.shared.transit_gateways import TransitGateway
from tests.conftest import PLANS, polling_as_the_cli_would
from tests.idempotency import runner

OTHER = "222222222222"
OPTIONS = {
    "AmazonSideAsn": 64600,
    "AutoAcceptSharedAttachments": "enable",
    "DefaultRouteTableAssociation": "disable",
    "DefaultRouteTablePropagation": "disable",
    "DnsSupport": "enable",
}


@pytest.fixture
def latency():
    yield set_latency
    set_latency(0.0)


def client_in(aws: str, boto: Any, account: str | None, service: str = "ec2") -> Any:
    if account is None:
        return boto(service)
    credentials = boto("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/any", RoleSessionName="test")[
        "Credentials"
    ]
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=aws,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def vpc_with_subnets(ec2: Any, cidr: str, zones: list[str]) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.rsplit(".", 2)[0]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{i * 16}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    return vpc, subnets


def test_a_gateway_is_seen_in_another_account_only_once_shared_through_ram(aws, boto) -> None:
    owner, other = boto("ec2"), client_in(aws, boto, OTHER)
    gateway = owner.create_transit_gateway(
        Options=OPTIONS,
        TagSpecifications=[{"ResourceType": "transit-gateway", "Tags": [{"Key": "Name", "Value": "hub"}]}],
    )["TransitGateway"]
    assert other.describe_transit_gateways()["TransitGateways"] == []
    vpc, subnets = vpc_with_subnets(other, "10.1.0.0/16", ["us-east-1a", "us-east-1b"])
    with pytest.raises(ClientError, match="InvalidTransitGatewayID.NotFound"):
        other.create_transit_gateway_vpc_attachment(
            TransitGatewayId=gateway["TransitGatewayId"], VpcId=vpc, SubnetIds=subnets
        )

    boto("ram").create_resource_share(name="hub", resourceArns=[gateway["TransitGatewayArn"]], principals=[OTHER])
    (seen,) = other.describe_transit_gateways()["TransitGateways"]
    assert seen["TransitGatewayId"] == gateway["TransitGatewayId"] and seen["OwnerId"] != OTHER
    assert seen["Tags"] == []  # the owner's tags are the owner's
    attachment = other.create_transit_gateway_vpc_attachment(
        TransitGatewayId=gateway["TransitGatewayId"], VpcId=vpc, SubnetIds=subnets
    )["TransitGatewayVpcAttachment"]
    # The owner sees it and places it; nothing was associated or propagated by default.
    (listed,) = owner.describe_transit_gateway_attachments()["TransitGatewayAttachments"]
    assert listed["ResourceOwnerId"] == OTHER and "Association" not in listed
    table = owner.create_transit_gateway_route_table(TransitGatewayId=gateway["TransitGatewayId"])[
        "TransitGatewayRouteTable"
    ]
    table_id = table["TransitGatewayRouteTableId"]
    assert (
        owner.search_transit_gateway_routes(
            TransitGatewayRouteTableId=table_id, Filters=[{"Name": "state", "Values": ["active"]}]
        )["Routes"]
        == []
    )
    owner.enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=table_id, TransitGatewayAttachmentId=attachment["TransitGatewayAttachmentId"]
    )
    (route,) = owner.search_transit_gateway_routes(
        TransitGatewayRouteTableId=table_id, Filters=[{"Name": "state", "Values": ["active"]}]
    )["Routes"]
    assert route["DestinationCidrBlock"] == "10.1.0.0/16" and route["Type"] == "propagated"
    # Route tables are the owner's alone.
    assert other.describe_transit_gateway_route_tables()["TransitGatewayRouteTables"] == []
    # AWS refuses to delete a gateway that still has attachments or route tables.
    with pytest.raises(ClientError, match="IncorrectState"):
        owner.delete_transit_gateway(TransitGatewayId=gateway["TransitGatewayId"])
    # A VPC route to the shared gateway keeps its target (moto drops it).
    rtb = other.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    other.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.100.0.0/24", TransitGatewayId=gateway["TransitGatewayId"]
    )
    routes = other.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert {"DestinationCidrBlock": "10.100.0.0/24", "TransitGatewayId": gateway["TransitGatewayId"]}.items() <= next(
        r for r in routes if r["DestinationCidrBlock"] == "10.100.0.0/24"
    ).items()


def test_one_subnet_per_zone_and_one_association_per_attachment(aws, boto) -> None:
    ec2 = boto("ec2")
    gateway = ec2.create_transit_gateway(Options=OPTIONS)["TransitGateway"]["TransitGatewayId"]
    vpc, subnets = vpc_with_subnets(ec2, "10.2.0.0/16", ["us-east-1a", "us-east-1a"])
    with pytest.raises(ClientError, match="DuplicateSubnetsInSameZone"):
        ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=gateway, VpcId=vpc, SubnetIds=subnets)
    attachment = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=gateway, VpcId=vpc, SubnetIds=subnets[:1])[
        "TransitGatewayVpcAttachment"
    ]["TransitGatewayAttachmentId"]
    first, second = (
        ec2.create_transit_gateway_route_table(TransitGatewayId=gateway)["TransitGatewayRouteTable"][
            "TransitGatewayRouteTableId"
        ]
        for _ in range(2)
    )
    ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=first, TransitGatewayAttachmentId=attachment)
    with pytest.raises(ClientError, match="Resource.AlreadyAssociated"):
        ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=second, TransitGatewayAttachmentId=attachment
        )


def test_gateway_is_pending_then_available_and_apply_waits(latency, session_for, boto) -> None:
    """A gateway found `pending` (an apply interrupted right after its create) is waited for;
    destroy waits through `deleting` until it is gone."""
    latency(0.005)  # 150 s x 0.005 = 0.75 s pending; 60 s x 0.005 = 0.3 s deleting
    shared = load_plan("shared", PLANS)
    node = TransitGateway(key="shared/transit/gateway", asn=64600)
    tags = with_record(node, {**shared.spec.tags, **ownership_tags("shared", node.key)})  # as the tool tags it
    ownership = [{"Key": k, "Value": v} for k, v in tags.items()]
    created = boto("ec2").create_transit_gateway(
        Options=OPTIONS, TagSpecifications=[{"ResourceType": "transit-gateway", "Tags": ownership}]
    )["TransitGateway"]
    assert created["State"] == "pending"
    run = runner(shared, polling_as_the_cli_would(session_for(), 0.005), [node])
    assert [c.action for c in run.plan().changes] == [Action.NOOP]
    assert run.apply().status == "ok"
    (gateway,) = boto("ec2").describe_transit_gateways()["TransitGateways"]
    assert gateway["State"] == "available"
    assert (
        runner(shared, polling_as_the_cli_would(session_for(), 0.005), [node]).destroy().status == "ok"
    )  # waits through `deleting`
    assert boto("ec2").describe_transit_gateways()["TransitGateways"] == []
