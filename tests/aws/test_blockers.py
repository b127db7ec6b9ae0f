"""`find_blockers`: what keeps a VPC, subnet, security group or Elastic IP from being deleted,
read from the simulated AWS through the production session factory."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.aws.blockers import Blocker, find_blockers, format_blockers

AMI = "ami-12c6146b"  # one of moto's built-in images


def spec(resource_type: str, values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in values.items()]}]


@pytest.fixture
def estate(boto: Any) -> dict[str, Any]:
    """A dev VPC as a teardown finds it half done: our NAT gateway and groups, an EKS
    interface, a load balancer and a Karpenter node the cluster's controllers made, a stray
    interface nobody tagged, a database, and an internet gateway still attached."""
    ec2, elbv2, rds = boto("ec2"), boto("elbv2"), boto("rds")
    ours = {"provisioner:plan": "dev", "ManagedBy": "provisioner"}
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.0.1.0/24",
        AvailabilityZone="us-east-1a",
        TagSpecifications=spec("subnet", {**ours, "provisioner:key": "network/subnet/public-a"}),
    )["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=public,
        AllocationId=eip,
        TagSpecifications=spec("natgateway", {**ours, "provisioner:key": "network/nat/a"}),
    )["NatGateway"]["NatGatewayId"]
    nodes = ec2.create_security_group(
        GroupName="nodes",
        Description="nodes",
        VpcId=vpc,
        TagSpecifications=spec("security-group", {**ours, "provisioner:key": "eks/node-sg"}),
    )["GroupId"]
    db_sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=db_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": nodes}]}
        ],
    )
    eks_eni = ec2.create_network_interface(SubnetId=private, Groups=[nodes], Description="Amazon EKS dev-eks")
    stray = ec2.create_network_interface(SubnetId=private, Description="left by hand")
    (node,) = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        SubnetId=private,
        SecurityGroupIds=[nodes],
        TagSpecifications=spec(
            "instance", {"kubernetes.io/cluster/dev-eks": "owned", "karpenter.sh/nodepool": "amd64"}
        ),
    )["Instances"]
    lb = elbv2.create_load_balancer(
        Name="k8s-web",
        Subnets=[public, private],
        SecurityGroups=[nodes],
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "dev-eks"}],
    )["LoadBalancers"][0]
    rds.create_db_subnet_group(DBSubnetGroupName="dev-db", DBSubnetGroupDescription="db", SubnetIds=[public, private])
    rds.create_db_instance(
        DBInstanceIdentifier="dev-db",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="16.4",
        MasterUsername="x",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
        DBSubnetGroupName="dev-db",
        VpcSecurityGroupIds=[db_sg],
        Tags=[{"Key": "provisioner:plan", "Value": "dev"}, {"Key": "provisioner:key", "Value": "rds/instance"}],
    )
    return {
        "vpc": vpc,
        "public": public,
        "private": private,
        "igw": igw,
        "eip": eip,
        "nat": nat,
        "nodes": nodes,
        "db_sg": db_sg,
        "eks_eni": eks_eni["NetworkInterface"]["NetworkInterfaceId"],
        "stray": stray["NetworkInterface"]["NetworkInterfaceId"],
        "node": node["InstanceId"],
        "lb": lb["LoadBalancerArn"],
    }


def by_id(blockers: list[Blocker]) -> dict[str, Blocker]:
    return {b.id: b for b in blockers}


def test_subnet_blockers_name_each_dependency_and_its_owner(session_for, estate) -> None:
    found = by_id(find_blockers(session_for(), "subnet", estate["private"]))

    assert found[estate["eks_eni"]].kind == "ec2:network-interface"
    assert found[estate["eks_eni"]].owner == "created by EKS for cluster dev-eks"
    assert "EKS cluster dev-eks" in found[estate["eks_eni"]].what_to_do
    assert found[estate["stray"]].owner == "untagged" and found[estate["stray"]].state == "available"
    assert "delete it" in found[estate["stray"]].what_to_do
    node = found[estate["node"]]
    assert (node.kind, node.state, node.owner) == ("ec2:instance", "running", "kubernetes.io/cluster/dev-eks=owned")
    assert "Karpenter" in node.what_to_do
    lb = found[estate["lb"]]
    assert lb.kind == "elbv2:load-balancer" and lb.owner == "elbv2.k8s.aws/cluster=dev-eks"
    assert "made by a controller in cluster dev-eks" in lb.what_to_do and "`destroy` sweeps it" in lb.what_to_do
    db = found["dev-db"]
    assert (db.kind, db.owner) == ("rds:db-instance", "provisioner:plan=dev key=rds/instance")
    # The instance's own interface is listed too, attached to it.
    node_enis = [b for b in found.values() if b.kind == "ec2:network-interface" and estate["node"] in b.detail]
    assert len(node_enis) == 1 and estate["node"] in node_enis[0].what_to_do
    assert estate["nat"] not in found  # the NAT gateway is in the public subnet


def test_subnet_with_nat_gateway_lists_the_gateway_and_its_interface(session_for, estate) -> None:
    found = find_blockers(session_for(), "subnet", estate["public"])
    nat = by_id(found)[estate["nat"]]
    assert (nat.kind, nat.state, nat.owner) == (
        "ec2:nat-gateway",
        "available",
        "provisioner:plan=dev key=network/nat/a",
    )
    assert "`deleted`" in nat.what_to_do
    (nat_eni,) = [b for b in found if b.kind == "ec2:network-interface" and b.owner.startswith("NAT gateway")]
    assert nat_eni.owner == f"NAT gateway {estate['nat']}" and "nat_gateway" in nat_eni.detail


def test_security_group_blockers_include_referencing_groups(session_for, estate) -> None:
    found = by_id(find_blockers(session_for(), "sg", estate["nodes"]))
    assert found[estate["db_sg"]].kind == "ec2:security-group"
    assert f"revoke its rules that reference {estate['nodes']}" in found[estate["db_sg"]].what_to_do
    assert {estate["eks_eni"], estate["node"], estate["lb"]} <= set(found)
    assert estate["stray"] not in found and "dev-db" not in found  # they use other groups

    db_group = by_id(find_blockers(session_for(), "security-group", estate["db_sg"]))
    assert set(db_group) == {"dev-db"}


def test_vpc_blockers_include_gateway_groups_and_subnets(session_for, estate) -> None:
    found = by_id(find_blockers(session_for(), "ec2:vpc", estate["vpc"]))
    assert found[estate["igw"]].kind == "ec2:internet-gateway" and found[estate["igw"]].state == "attached"
    assert found[estate["nodes"]].owner == "provisioner:plan=dev key=eks/node-sg"
    assert "`destroy dev` deletes it" in found[estate["nodes"]].what_to_do
    assert found[estate["db_sg"]].owner == "untagged"
    assert not any(b.kind == "ec2:security-group" and b.detail == "default" for b in found.values())
    assert {estate["public"], estate["private"], estate["nat"], estate["node"], estate["lb"], "dev-db"} <= set(found)


def test_elastic_ip_held_by_nat_gateway_names_the_gateway(session_for, boto, estate) -> None:
    (nat,) = find_blockers(session_for(), "eip", estate["eip"])
    assert (nat.kind, nat.id) == ("ec2:nat-gateway", estate["nat"])
    public_ip = boto("ec2").describe_addresses(AllocationIds=[estate["eip"]])["Addresses"][0]["PublicIp"]
    assert [b.id for b in find_blockers(session_for(), "eip", public_ip)] == [estate["nat"]]


def test_nothing_blocks_an_empty_subnet_and_format_says_so(session_for, boto) -> None:
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    assert find_blockers(session_for(), "subnet", subnet) == []
    assert find_blockers(session_for(), "vpc", vpc)[0].id == subnet
    assert "nothing found" in format_blockers([], subnet)


def test_format_blockers_one_line_each(session_for, estate) -> None:
    blockers = find_blockers(session_for(), "subnet", estate["private"])
    text = format_blockers(blockers, f"subnet {estate['private']}")
    lines = text.splitlines()
    assert lines[0] == f"subnet {estate['private']} is in use by:"
    assert len(lines) == len(blockers) + 1
    assert any(estate["stray"] in line and "owner: untagged" in line for line in lines)


def test_unknown_resource_type_is_a_clear_error(session_for) -> None:
    with pytest.raises(ValueError, match="allowed: vpc, subnet, security-group, eip"):
        find_blockers(session_for(), "bucket", "x")


def test_what_goes_by_itself_and_what_never_will() -> None:
    from provisioner.aws.blockers import Blocker, goes_by_itself

    def blocker(kind: str, owner: str, state: str = "available", detail: str = "") -> Blocker:
        return Blocker(kind, "id-1", state, owner, "", detail)

    waits = [
        blocker("ec2:nat-gateway", "provisioner:plan=other key=network/nat/a", state="deleting"),
        blocker("ec2:instance", "untagged", state="shutting-down"),
        blocker("ec2:security-group", "provisioner:plan=dev key=rds/security-group"),  # ours: its node deletes it
        blocker("ec2:network-interface", "created by EKS for cluster dev-eks", state="in-use"),
        blocker("ec2:network-interface", "NAT gateway nat-1", state="in-use"),
        blocker("ec2:network-interface", "ELB app/k8s-web/123", state="in-use"),
        blocker("ec2:network-interface", "untagged", state="in-use", detail="type interface, attached to i-1"),
    ]
    stuck = [
        blocker("ec2:instance", "Name=debug-box", state="running"),
        blocker("ec2:security-group", "provisioner:plan=staging key=eks/node-security-group"),  # another plan's
        blocker("ec2:network-interface", "untagged"),
        blocker("ec2:network-interface", "created by EKS for cluster other-eks", state="in-use"),
        blocker("elb:load-balancer", "ELB web", state="active"),
        # Swept before the subnets and the VPC: still there means the sweep could not.
        blocker("ec2:security-group", "elbv2.k8s.aws/cluster=dev-eks"),
        blocker("ec2:security-group", "kubernetes.io/cluster/dev-eks=shared"),
    ]
    assert [b for b in waits if not goes_by_itself(b, "dev", "dev-eks")] == []
    assert [b for b in stuck if goes_by_itself(b, "dev", "dev-eks")] == []
