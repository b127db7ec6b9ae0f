"""The sandbox refuses deletes AWS refuses (provisioner/sandbox/dependencies.py): each check
answers AWS's error while the dependency exists and lets the delete through once it is gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.sandbox import fidelity

AMI = "ami-12c6146b"  # one of moto's built-in images


def refused(call: Callable[..., Any], code: str = "DependencyViolation", **params: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**params)
    error = info.value.response
    assert error["Error"]["Code"] == code, error["Error"]
    # moto's EC2 error model gives AuthFailure 401 (AWS answers this one with 400); the code
    # is what callers see and test.
    assert error["ResponseMetadata"]["HTTPStatusCode"] == (401 if code == "AuthFailure" else 400)
    return str(error["Error"]["Message"])


@pytest.fixture
def ec2(boto: Any) -> Any:
    return boto("ec2")


@pytest.fixture
def vpc(ec2: Any) -> str:
    return str(ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def make_subnet(ec2: Any, vpc: str, cidr: str = "10.0.1.0/24", az: str = "us-east-1a") -> str:
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"])


def make_group(ec2: Any, vpc: str, name: str) -> str:
    return str(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"])


def wait_nat_deleted(ec2: Any, nat_id: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        (nat,) = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"] or [{"State": "deleted"}]
        if nat["State"] == "deleted":
            return
        time.sleep(0.02)
    raise AssertionError(f"{nat_id} still {nat['State']}")


def test_delete_subnet_with_nat_gateway_refused_until_the_gateway_is_deleted(ec2, vpc, monkeypatch) -> None:
    subnet = make_subnet(ec2, vpc)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    (eni,) = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    assert eni["NetworkInterfaceId"] == nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    assert (eni["InterfaceType"], eni["Status"], eni["RequesterManaged"]) == ("nat_gateway", "in-use", True)
    assert eni["Description"] == f"Interface for NAT Gateway {nat['NatGatewayId']}" and eni["Groups"] == []

    message = refused(ec2.delete_subnet, SubnetId=subnet)
    assert message == f"The subnet '{subnet}' has dependencies and cannot be deleted."
    assert "in use" in refused(
        ec2.delete_network_interface, "InvalidParameterValue", NetworkInterfaceId=eni["NetworkInterfaceId"]
    )
    # AWS's (misleading) answer for an address a NAT gateway holds.
    assert refused(ec2.release_address, "AuthFailure", AllocationId=eip).startswith("You do not have permission")
    assert "mapped public address" in refused(ec2.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc)

    # `deleting` for 60 s x 0.01: long enough for the three refusals below on a loaded machine
    monkeypatch.setattr(fidelity, "LATENCY_SCALE", 0.01)
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]["State"] == "deleting"
    refused(ec2.delete_subnet, SubnetId=subnet)
    refused(ec2.release_address, "AuthFailure", AllocationId=eip)
    refused(ec2.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc)

    wait_nat_deleted(ec2, nat["NatGatewayId"])
    # The gateway's interface went with it, or the subnet could never be deleted.
    assert (
        ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"] == []
    )
    ec2.release_address(AllocationId=eip)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_subnet(SubnetId=subnet)


def test_delete_subnet_and_group_with_network_interface_refused_until_it_is_deleted(ec2, vpc) -> None:
    subnet = make_subnet(ec2, vpc)
    group = make_group(ec2, vpc, "app")
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]

    refused(ec2.delete_subnet, SubnetId=subnet)
    assert refused(ec2.delete_security_group, GroupId=group) == f"resource {group} has a dependent object"

    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet)


def test_instance_blocks_subnet_and_group_until_terminated_and_its_interface_goes_with_it(ec2, vpc) -> None:
    subnet = make_subnet(ec2, vpc)
    group = make_group(ec2, vpc, "nodes")
    (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group])[
        "Instances"
    ]
    (eni,) = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    assert eni["Status"] == "in-use" and eni["Attachment"]["InstanceId"] == instance["InstanceId"]
    assert eni["Attachment"]["DeleteOnTermination"] is True  # RunInstances' own interface, as on AWS

    refused(ec2.delete_subnet, SubnetId=subnet)
    refused(ec2.delete_security_group, GroupId=group)
    refused(ec2.delete_network_interface, "InvalidParameterValue", NetworkInterfaceId=eni["NetworkInterfaceId"])

    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])  # again: a no-op, as on AWS
    assert (
        ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"] == []
    )
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet)


def test_interface_attached_by_id_survives_termination_detached(ec2, vpc) -> None:
    subnet = make_subnet(ec2, vpc)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    (instance,) = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[{"NetworkInterfaceId": eni, "DeviceIndex": 0}]
    )["Instances"]
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Status"] == "in-use"
    refused(ec2.delete_network_interface, "InvalidParameterValue", NetworkInterfaceId=eni)

    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Status"] == "available"
    refused(ec2.delete_subnet, SubnetId=subnet)  # the interface is still there
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_subnet(SubnetId=subnet)


def test_load_balancer_blocks_its_subnets_and_group_until_deleted(ec2, vpc, boto) -> None:
    subnets = [make_subnet(ec2, vpc, "10.0.1.0/24", "us-east-1a"), make_subnet(ec2, vpc, "10.0.2.0/24", "us-east-1b")]
    group = make_group(ec2, vpc, "alb")
    elbv2 = boto("elbv2")
    lb = elbv2.create_load_balancer(Name="k8s-app", Subnets=subnets, SecurityGroups=[group])["LoadBalancers"][0]

    for subnet in subnets:
        refused(ec2.delete_subnet, SubnetId=subnet)
    refused(ec2.delete_security_group, GroupId=group)

    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    ec2.delete_security_group(GroupId=group)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)


def test_group_referenced_by_another_groups_rules_refused_until_revoked(ec2, vpc) -> None:
    nodes, db, egress_only = make_group(ec2, vpc, "nodes"), make_group(ec2, vpc, "db"), make_group(ec2, vpc, "out")
    from_nodes = [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": nodes}]}]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=from_nodes)
    ec2.authorize_security_group_egress(
        GroupId=egress_only,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": db}]}],
    )
    # A group's reference to itself does not keep it.
    ec2.authorize_security_group_ingress(
        GroupId=nodes, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": nodes}]}]
    )

    assert refused(ec2.delete_security_group, GroupId=nodes) == f"resource {nodes} has a dependent object"
    refused(ec2.delete_security_group, GroupId=db)  # referenced by `out`'s egress

    ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=from_nodes)
    ec2.delete_security_group(GroupId=nodes)
    ec2.delete_security_group(GroupId=egress_only)
    ec2.delete_security_group(GroupId=db)


def test_db_instance_blocks_its_group_subnet_and_subnet_group_until_deleted(ec2, vpc, boto) -> None:
    subnets = [make_subnet(ec2, vpc, "10.0.1.0/24", "us-east-1a"), make_subnet(ec2, vpc, "10.0.2.0/24", "us-east-1b")]
    group = make_group(ec2, vpc, "db")
    rds = boto("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="dev-db", DBSubnetGroupDescription="db", SubnetIds=subnets)
    rds.create_db_instance(
        DBInstanceIdentifier="dev-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="16.4",
        MasterUsername="x",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
        DBSubnetGroupName="dev-db",
        VpcSecurityGroupIds=[group],
        AvailabilityZone="us-east-1a",
    )

    refused(ec2.delete_security_group, GroupId=group)
    refused(ec2.delete_subnet, SubnetId=subnets[0])  # the instance's interface is in us-east-1a
    message = refused(rds.delete_db_subnet_group, "InvalidDBSubnetGroupStateFault", DBSubnetGroupName="dev-db")
    assert "dev-db" in message
    ec2.delete_subnet(SubnetId=subnets[1])  # nothing of a single-AZ instance in us-east-1b

    rds.delete_db_instance(DBInstanceIdentifier="dev-db", SkipFinalSnapshot=True)
    rds.delete_db_subnet_group(DBSubnetGroupName="dev-db")
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnets[0])


def test_delete_vpc_refused_while_gateway_attached_or_group_left(ec2, vpc) -> None:
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    group = make_group(ec2, vpc, "left-behind")

    assert refused(ec2.delete_vpc, VpcId=vpc) == f"The vpc '{vpc}' has dependencies and cannot be deleted."
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    refused(ec2.delete_vpc, VpcId=vpc)  # the group is still there
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)  # the default group goes with it
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_release_address_in_use_by_an_instance_refused_until_disassociated(ec2, vpc) -> None:
    subnet = make_subnet(ec2, vpc)
    (instance,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"]
    address = ec2.allocate_address(Domain="vpc")
    association = ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance["InstanceId"])

    message = refused(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=address["AllocationId"])
    assert address["PublicIp"] in message
    ec2.disassociate_address(AssociationId=association["AssociationId"])
    ec2.release_address(AllocationId=address["AllocationId"])


def test_teardown_in_dependency_order_succeeds(ec2, vpc, monkeypatch) -> None:
    public, private = make_subnet(ec2, vpc, "10.0.1.0/24"), make_subnet(ec2, vpc, "10.0.2.0/24")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    nodes, db = make_group(ec2, vpc, "nodes"), make_group(ec2, vpc, "db")
    ec2.authorize_security_group_ingress(
        GroupId=db,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": nodes}]}
        ],
    )
    (node,) = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=private, SecurityGroupIds=[nodes])[
        "Instances"
    ]

    monkeypatch.setattr(fidelity, "LATENCY_SCALE", 0.002)
    ec2.terminate_instances(InstanceIds=[node["InstanceId"]])
    ec2.delete_nat_gateway(NatGatewayId=nat)
    wait_nat_deleted(ec2, nat)
    ec2.release_address(AllocationId=eip)
    ec2.delete_security_group(GroupId=db)
    ec2.delete_security_group(GroupId=nodes)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=public)
    ec2.delete_subnet(SubnetId=private)
    ec2.delete_vpc(VpcId=vpc)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []


def test_patches_apply_once(aws) -> None:
    from moto.ec2.responses.subnets import Subnets

    from provisioner.sandbox import dependencies

    handler = Subnets.delete_subnet
    dependencies.apply_patches()
    fidelity.apply_patches()
    assert Subnets.delete_subnet is handler
