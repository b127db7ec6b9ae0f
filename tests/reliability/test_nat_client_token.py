"""The sandbox honours ClientToken on CreateNatGateway as EC2 does (issue #9): a create
retried with the same token (a crash between sending it and recording the answer, or
botocore retrying a timed-out call) never makes a second NAT gateway. moto alone ignores the
token; `sandbox/fidelity.py` restores the contract.

EC2's idempotency contract: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html
"""

from __future__ import annotations


def _network(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.0.0/24")["Subnet"]["SubnetId"]
    first = ec2.allocate_address(Domain="vpc")["AllocationId"]
    second = ec2.allocate_address(Domain="vpc")["AllocationId"]
    return subnet, first, second


def _enis(ec2) -> int:
    return len(ec2.describe_network_interfaces()["NetworkInterfaces"])


def test_create_nat_gateway_repeated_with_its_token_returns_the_same_gateway(boto) -> None:
    ec2 = boto("ec2")
    subnet, eip, _ = _network(ec2)
    made = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="dev-network-nat-a")
    enis = _enis(ec2)
    again = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="dev-network-nat-a")
    assert again["NatGateway"]["NatGatewayId"] == made["NatGateway"]["NatGatewayId"]
    assert again["ClientToken"] == "dev-network-nat-a"
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == 1
    assert _enis(ec2) == enis  # no second network interface either


def test_create_nat_gateway_with_a_used_token_and_another_eip_makes_no_second_gateway(boto) -> None:
    ec2 = boto("ec2")
    subnet, eip, other = _network(ec2)
    made = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="dev-network-nat-a")
    again = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=other, ClientToken="dev-network-nat-a")
    assert again["NatGateway"]["NatGatewayId"] == made["NatGateway"]["NatGatewayId"]
    (nat,) = ec2.describe_nat_gateways()["NatGateways"]
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == eip
    # The other EIP stays free for whoever allocated it.
    (free,) = ec2.describe_addresses(AllocationIds=[other])["Addresses"]
    assert "AssociationId" not in free


def test_create_nat_gateway_with_another_token_makes_another_gateway(boto) -> None:
    ec2 = boto("ec2")
    subnet, eip, other = _network(ec2)
    a = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="token-a")["NatGateway"]["NatGatewayId"]
    b = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=other, ClientToken="token-b")["NatGateway"]["NatGatewayId"]
    assert a != b
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == 2
