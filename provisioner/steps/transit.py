"""An environment joins the Shared Services network (issue 18): what `network.transit.attach`
adds to and changes in an environment plan's graph.

Adds (steps/network/transit_attachments.py): the lookup of the shared plan's Transit Gateway,
the VPC attachment in the private subnets (one per AZ), its routing in the gateway owner's
account (association with the plan's segment table, propagation into `shared`).

Changes:
- each private route table sends the shared VPC's CIDR to the gateway (after the attachment
  exists: AWS refuses a route to a gateway the VPC is not attached to). Destroy removes the
  tables, with their routes, before the routing and the attachment;
- with `ci_access` (the shared CI runners may deploy): the cluster security group admits 443
  from the shared VPC's CIDR, and nothing else does; the private NACL admits the same
  (inbound 443 from that CIDR; return traffic is already admitted on ephemeral ports).

The shared VPC's CIDR comes from the shared plan file beside the environment's
(`plans/shared.yaml`): one fact, read from where it is written. Its account id comes from
Organizations (the same lookup that gives the CI deploy role its trust).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from provisioner.engine import PermanentError, Resource
from provisioner.planfile import EnvironmentPlan, Plan, SharedPlan, load_plan
from provisioner.planfile.model import SharedNetworkSpec
from provisioner.planfile.transit import SHARED_PLAN, attached_issues, propagations
from provisioner.steps.common.keys import CLUSTER_SG, VPC, private_route_keys, private_subnet_keys
from provisioner.steps.network.network_acls import TCP, NetworkAcl
from provisioner.steps.network.route_tables import RouteTable
from provisioner.steps.network.security_groups import Rule, SecurityGroup
from provisioner.steps.network.transit_attachments import TransitAttachment, TransitGatewayLookup, TransitRouting

LOOKUP = "network/transit/gateway"
ATTACHMENT = "network/transit/attachment"
ROUTING = "network/transit/routing"
PRIVATE_NACL = "network/nacl/private"
CI_NACL_RULE = 150  # inbound 443 from the shared VPC, after the tier's own rules (100-12x)


def shared_network(plan: Plan) -> SharedNetworkSpec:
    """The shared plan's network, from the shared plan file beside this plan's."""
    directory = Path(plan.path).parent
    try:
        shared = load_plan(SHARED_PLAN, directory)
    except Exception as exc:  # a missing or invalid shared.yaml: say so, before any call
        raise PermanentError(
            f"plan {plan.name} attaches to the Transit Gateway, but {directory}/{SHARED_PLAN}.yaml cannot be read: {exc}",
            key=ATTACHMENT,
            code="SharedPlanMissing",
            hint="keep the shared plan beside the environment plans, or set network.transit.attach: false",
        ) from exc
    if not isinstance(shared.spec, SharedPlan) or shared.spec.network is None:
        raise PermanentError(
            f"plan {plan.name} attaches to the Transit Gateway, but the shared plan has no `network`",
            key=ATTACHMENT,
            code="SharedNetworkMissing",
            hint="add network (with its transit_gateway) to plans/shared.yaml, or set network.transit.attach: false",
        )
    return shared.spec.network


def attach(plan: Plan, nodes: list[Resource], shared_account_id: str) -> list[Resource]:
    """The environment graph with the transit nodes added and its tables, group and NACL
    extended (see module docstring); unchanged when the plan does not attach."""
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    transit = spec.network.transit
    if not transit.attach:
        return nodes
    shared = shared_network(plan)
    problems = [problem for _, problem, _ in attached_issues(shared, {plan.name: spec})]
    if problems:
        raise PermanentError(
            f"plan {plan.name}: " + "; ".join(problems),
            key=ATTACHMENT,
            code="TransitCidrConflict",
            hint="give each attached VPC its own range inside the shared plan's transit_routes",
        )
    subnets = tuple(private_subnet_keys(spec))
    tables = set(private_route_keys(spec))
    out: list[Resource] = []
    for node in nodes:
        if isinstance(node, RouteTable) and node.key in tables:
            node = dataclasses.replace(
                node, routes={**node.routes, shared.cidr: LOOKUP}, depends_on=(*node.depends_on, LOOKUP, ATTACHMENT)
            )
        elif transit.ci_access and isinstance(node, SecurityGroup) and node.key == CLUSTER_SG:
            node = dataclasses.replace(node, ingress=(*node.ingress, Rule("tcp", shared.cidr, 443, 443)))
        elif transit.ci_access and isinstance(node, NetworkAcl) and node.key == PRIVATE_NACL:
            node = dataclasses.replace(
                node, extra_entries=(*node.extra_entries, (CI_NACL_RULE, False, TCP, shared.cidr, 443, 443))
            )
        out.append(node)
    out += [
        TransitGatewayLookup(key=LOOKUP, owner_account=shared_account_id),
        TransitAttachment(
            key=ATTACHMENT,
            depends_on=(LOOKUP, VPC, *subnets),
            gateway=LOOKUP,
            vpc=VPC,
            subnets=subnets,
            tags={"Name": f"{plan.name}-tgw-attachment"},
        ),
        TransitRouting(
            key=ROUTING,
            depends_on=(ATTACHMENT, LOOKUP),
            attachment=ATTACHMENT,
            segment=transit.segment,
            propagate_to=propagations(transit.segment),
            owner_account=shared_account_id,
        ),
    ]
    return out
