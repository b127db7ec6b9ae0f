"""The network step: the seed's VPC layout for one environment, as graph nodes.

    network/vpc
    ├── network/subnet/{public,private}-<az>      one each per AZ
    ├── network/igw                               attached to the VPC
    ├── network/eip/<az> -> network/nat/<az>      one NAT gateway per public subnet
    ├── network/route-table/public                0.0.0.0/0 -> IGW, public subnets
    ├── network/route-table/private-<az>          0.0.0.0/0 -> that AZ's NAT, its private subnet
    ├── network/nacl/{public,private}             tier NACLs, associated with the tier's subnets
    ├── network/default-sg                        stripped of all rules
    ├── network/default-nacl                      stripped of its allow entries
    └── network/flow-logs (+ log-group, role)     all traffic to CloudWatch Logs

Only the private route tables wait for NAT gateways: EKS and RDS need subnets and security
groups, not NAT, so they never wait the ~105 s a NAT gateway takes (SPEC section 10).
"""

from __future__ import annotations

from provisioner.constants import cluster_name, resource_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.common.keys import (
    VPC,
    private_route_key,
    subnet_key,
    zone_suffix,
)
from provisioner.steps.iam import Role, with_boundary
from provisioner.steps.network.elastic_ips import ElasticIp
from provisioner.steps.network.flow_logs import FlowLog, LogGroup, log_group_prefix
from provisioner.steps.network.internet_gateways import InternetGateway
from provisioner.steps.network.nat_gateways import NatGateway
from provisioner.steps.network.network_acls import DefaultNetworkAcl, NetworkAcl
from provisioner.steps.network.route_tables import RouteTable
from provisioner.steps.network.security_groups import DefaultSecurityGroup
from provisioner.steps.network.subnets import Subnet
from provisioner.steps.network.vpcs import Vpc

IGW = "network/igw"


def _plan(attr: str) -> dict[str, str]:
    return {"ref": "@plan", "attr": attr}


# The flow logs service may assume the role only for this account's flow logs: the conditions
# AWS documents against the confused deputy
# (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html).
FLOW_LOGS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": _plan("account_id")},
                "ArnLike": {
                    "aws:SourceArn": {
                        "concat": [
                            "arn:",
                            _plan("partition"),
                            ":ec2:",
                            _plan("region"),
                            ":",
                            _plan("account_id"),
                            ":vpc-flow-log/*",
                        ]
                    }
                },
            },
        }
    ],
}


def resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    net = spec.network
    cluster = cluster_name(plan.name)
    nodes: list[Resource] = [Vpc(key=VPC, cidr=net.cidr, tags={"Name": f"{plan.name}-vpc"})]
    public_keys, private_keys = [], []
    for index, az in enumerate(net.availability_zones):
        suffix = zone_suffix(az)
        public, private = subnet_key("public", az), subnet_key("private", az)
        public_keys.append(public)
        private_keys.append(private)
        nodes += [
            Subnet(
                key=public,
                depends_on=(VPC,),
                vpc=VPC,
                cidr=net.public_subnets[index],
                availability_zone=az,
                tier="public",
                tags={"Name": f"{plan.name}-public-{suffix}", "kubernetes.io/role/elb": "1"},
            ),
            Subnet(
                key=private,
                depends_on=(VPC,),
                vpc=VPC,
                cidr=net.private_subnets[index],
                availability_zone=az,
                tier="private",
                tags={
                    "Name": f"{plan.name}-private-{suffix}",
                    "kubernetes.io/role/internal-elb": "1",
                    "karpenter.sh/discovery": cluster,
                },
            ),
            ElasticIp(key=f"network/eip/{suffix}", tags={"Name": f"{plan.name}-nat-{suffix}"}),
            NatGateway(
                key=f"network/nat/{suffix}",
                depends_on=(public, f"network/eip/{suffix}", IGW),
                subnet=public,
                eip=f"network/eip/{suffix}",
                tags={"Name": f"{plan.name}-nat-{suffix}"},
            ),
            RouteTable(
                key=private_route_key(az),
                depends_on=(VPC, private, f"network/nat/{suffix}"),
                vpc=VPC,
                routes={"0.0.0.0/0": f"network/nat/{suffix}"},
                subnets=(private,),
                tags={"Name": f"{plan.name}-private-{suffix}"},
            ),
        ]
    log_group_key, role_key = "network/flow-logs/log-group", "network/flow-logs/role"
    nodes += [
        InternetGateway(key=IGW, depends_on=(VPC,), vpc=VPC, tags={"Name": f"{plan.name}-igw"}),
        RouteTable(
            key="network/route-table/public",
            depends_on=(VPC, IGW, *public_keys),
            vpc=VPC,
            routes={"0.0.0.0/0": IGW},
            subnets=tuple(public_keys),
            tags={"Name": f"{plan.name}-public"},
        ),
        NetworkAcl(
            key="network/nacl/public",
            depends_on=(VPC, *public_keys),
            vpc=VPC,
            vpc_cidr=net.cidr,
            tier="public",
            subnets=tuple(public_keys),
            tags={"Name": f"{plan.name}-public"},
        ),
        NetworkAcl(
            key="network/nacl/private",
            depends_on=(VPC, *private_keys),
            vpc=VPC,
            vpc_cidr=net.cidr,
            tier="private",
            subnets=tuple(private_keys),
            tags={"Name": f"{plan.name}-private"},
        ),
        DefaultSecurityGroup(key="network/default-sg", depends_on=(VPC,), vpc=VPC),
        DefaultNetworkAcl(key="network/default-nacl", depends_on=(VPC,), vpc=VPC),
        LogGroup(
            key=log_group_key,
            name=f"{log_group_prefix(plan.name)}vpc-flow-logs",
            retention_days=net.flow_logs.retention_days,
        ),
        Role(
            key=role_key,
            depends_on=(log_group_key,),
            name=resource_name(plan.name, "vpc-flow-logs"),
            trust=FLOW_LOGS_TRUST,
            inline_policies={
                "deliver-flow-logs": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            "Resource": [
                                {"ref": log_group_key, "attr": "arn"},
                                {"ref": log_group_key, "attr": "arn", "suffix": ":*"},
                            ],
                        }
                    ],
                }
            },
        ),
        FlowLog(
            key="network/flow-logs",
            depends_on=(VPC, log_group_key, role_key),
            vpc=VPC,
            log_group=log_group_key,
            role=role_key,
            traffic_type=net.flow_logs.traffic_type,
            tags={"Name": f"{plan.name}-vpc-flow-logs"},
        ),
    ]
    return with_boundary(nodes)
