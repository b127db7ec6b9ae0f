"""ec2:subnet: one public and one private subnet per availability zone.

Public subnets carry `kubernetes.io/role/elb=1` and private ones
`kubernetes.io/role/internal-elb=1`, so the AWS Load Balancer Controller places load
balancers without configuration; private subnets also carry `karpenter.sh/discovery`, which
the EC2NodeClass selects. No subnet maps public IPs on launch (the NAT gateways have EIPs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.blockers import find_blockers
from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, delete_in_use, ec2_call


@dataclass(kw_only=True)
class Subnet(Ec2Resource):
    vpc: str
    cidr: str
    availability_zone: str
    tier: str  # public | private

    type = "ec2:subnet"
    iam_actions = (
        "ec2:DescribeSubnets",
        "ec2:CreateSubnet",
        "ec2:ModifySubnetAttribute",
        "ec2:DeleteSubnet",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        # guard_reason: what has network interfaces in a subnet (aws.blockers)
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstances",
        "ec2:DescribeNatGateways",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "rds:DescribeDBInstances",
    )
    create_seconds = 1.5
    delete_seconds = 1.5
    replace_on = frozenset({"cidr", "availability_zone", "vpc_id"})
    describe_operation = "describe_subnets"
    result_key = "Subnets"
    id_field = "SubnetId"
    tag_resource_type = "subnet"

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "vpc_id": item["VpcId"],
            "cidr": item["CidrBlock"],
            "availability_zone": item["AvailabilityZone"],
            "map_public_ip_on_launch": item.get("MapPublicIpOnLaunch", False),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "vpc_id": refs.id(self.vpc),
            "cidr": self.cidr,
            "availability_zone": self.availability_zone,
            "map_public_ip_on_launch": False,
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        subnet = ec2_call(
            ctx,
            self.key,
            "create_subnet",
            VpcId=want["vpc_id"],
            CidrBlock=self.cidr,
            AvailabilityZone=self.availability_zone,
            TagSpecifications=self.tag_specs(ctx),
        )["Subnet"]
        live = self.live(ctx, subnet)
        if live.fields["map_public_ip_on_launch"]:
            return self.update(ctx, want, live, {"map_public_ip_on_launch": {}})
        return live

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "map_public_ip_on_launch" in diff:
            ec2_call(ctx, self.key, "modify_subnet_attribute", SubnetId=have.id, MapPublicIpOnLaunch={"Value": False})
            have.fields["map_public_ip_on_launch"] = False
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        """Guarded only while something has network interfaces in it (EKS control plane or
        nodes, a database, a NAT gateway, load balancers): an empty subnet is made again at no cost."""
        blockers = find_blockers(ctx.aws, "subnet", have.id)
        if not blockers:
            return None
        named = ", ".join(f"{b.kind} {b.id} ({b.owner})" for b in blockers[:3])
        more = f" and {len(blockers) - 3} more" if len(blockers) > 3 else ""
        return f"holds network interfaces: {named}{more}"

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # DependencyViolation: ENIs of a NAT gateway or of EKS still releasing are waited for;
        # anything that is not the plan's or its cluster's stops the step, named.
        delete_in_use(ctx, have.key, "delete_subnet", "subnet", have.id, SubnetId=have.id)
