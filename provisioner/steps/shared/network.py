"""The shared plan's network (issue 18): a small VPC for shared tooling (CI runners) and the
Transit Gateway that links the accounts.

    shared/network/vpc
    ├── shared/network/subnet/private-<az>     private subnets, one per AZ (no NAT, no IGW)
    ├── shared/network/default-sg              stripped of all rules
    └── shared/network/route-table/private     transit_routes -> the Transit Gateway
    shared/transit/gateway                     ec2:transit-gateway (ASN, no default tables)
    ├── shared/transit/route-table/<segment>   prod, nonprod, shared
    ├── shared/transit/share                   ram:resource-share with the environment accounts
    ├── shared/transit/attachment              the shared VPC's attachment (one subnet per AZ)
    │   └── shared/transit/routing             associated with `shared`, propagates into
    │                                          `prod` and `nonprod`
    └── shared/transit/guard                   destroy stops here while environments are attached

The guard depends on every other node of the plan, so destroy deletes it first and a
refused destroy deletes nothing.
"""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import Plan, SharedPlan
from provisioner.planfile.transit import ROUTE_TABLES, SHARED_SEGMENT, propagations
from provisioner.steps.common.directory import KEY as DIRECTORY
from provisioner.steps.network.route_tables import RouteTable
from provisioner.steps.network.security_groups import DefaultSecurityGroup
from provisioner.steps.network.subnets import Subnet
from provisioner.steps.network.transit_attachments import GATEWAY_KEY, TransitAttachment, TransitRouting, table_key
from provisioner.steps.network.vpcs import Vpc
from provisioner.steps.shared.transit_gateways import (
    ResourceShare,
    TransitGateway,
    TransitGatewayGuard,
    TransitRouteTable,
)

VPC = "shared/network/vpc"
SHARE = "shared/transit/share"
ATTACHMENT = "shared/transit/attachment"
ROUTING = "shared/transit/routing"
GUARD = "shared/transit/guard"


def network_resources(plan: Plan) -> list[Resource]:
    spec = plan.spec
    assert isinstance(spec, SharedPlan) and spec.network is not None
    net = spec.network
    nodes: list[Resource] = [Vpc(key=VPC, cidr=net.cidr, tags={"Name": f"{plan.name}-vpc"})]
    subnets = []
    for az, cidr in zip(net.availability_zones, net.private_subnets, strict=False):
        key = f"shared/network/subnet/private-{az[-1]}"
        subnets.append(key)
        nodes.append(
            Subnet(
                key=key,
                depends_on=(VPC,),
                vpc=VPC,
                cidr=cidr,
                availability_zone=az,
                tier="private",
                tags={"Name": f"{plan.name}-private-{az[-1]}"},
            )
        )
    nodes += [
        DefaultSecurityGroup(key="shared/network/default-sg", depends_on=(VPC,), vpc=VPC),
        TransitGateway(
            key=GATEWAY_KEY,
            asn=net.transit_gateway.amazon_side_asn,
            description=f"{plan.name}: links the environment accounts",
            tags={"Name": f"{plan.name}-tgw"},
        ),
        *[
            TransitRouteTable(
                key=table_key(segment),
                depends_on=(GATEWAY_KEY,),
                gateway=GATEWAY_KEY,
                tags={"Name": f"{plan.name}-tgw-{segment}"},
            )
            for segment in ROUTE_TABLES
        ],
        ResourceShare(
            key=SHARE, depends_on=(GATEWAY_KEY, DIRECTORY), resource=GATEWAY_KEY, principals=tuple(net.share_with)
        ),
        TransitAttachment(
            key=ATTACHMENT,
            depends_on=(GATEWAY_KEY, VPC, *subnets),
            gateway=GATEWAY_KEY,
            vpc=VPC,
            subnets=tuple(subnets),
            tags={"Name": f"{plan.name}-vpc"},
        ),
        TransitRouting(
            key=ROUTING,
            depends_on=(ATTACHMENT, *[table_key(s) for s in ROUTE_TABLES]),
            attachment=ATTACHMENT,
            segment=SHARED_SEGMENT,
            propagate_to=propagations(SHARED_SEGMENT),
        ),
        RouteTable(
            key="shared/network/route-table/private",
            depends_on=(VPC, ATTACHMENT, *subnets),
            vpc=VPC,
            routes={cidr: GATEWAY_KEY for cidr in net.transit_routes},
            subnets=tuple(subnets),
            tags={"Name": f"{plan.name}-private"},
        ),
    ]
    return nodes


def guarded(nodes: list[Resource]) -> list[Resource]:
    """Adds the guard, which depends on every node of the plan: apply reaches it last, and
    destroy deletes it first, so every other deletion waits for its check."""
    return [*nodes, TransitGatewayGuard(key=GUARD, depends_on=tuple(n.key for n in nodes), gateway=GATEWAY_KEY)]
