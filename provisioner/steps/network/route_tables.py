"""ec2:route-table: the public table (default route to the IGW) and one private table per AZ
(default route to that AZ's NAT gateway), with their subnet associations.

Routes and associations are fields of the table node, not nodes of their own: they are not
taggable, they are read with the table (one DescribeRouteTables for all kinds), and a route
deleted behind our back shows as an update of its table. We own these tables, so routes we
do not want (other than `local`) are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.constants import idempotency_token
from provisioner.engine import Live, PermanentError, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call


@dataclass(kw_only=True)
class RouteTable(Ec2Resource):
    vpc: str
    # destination CIDR -> key of the gateway node (internet, NAT or transit gateway)
    routes: dict[str, str] = field(default_factory=dict)
    subnets: tuple[str, ...] = ()

    type = "ec2:route-table"
    iam_actions = (
        "ec2:DescribeRouteTables",
        "ec2:CreateRouteTable",
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:AssociateRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:ReplaceRouteTableAssociation",
        "ec2:DeleteRouteTable",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    replace_on = frozenset({"vpc_id"})
    describe_operation = "describe_route_tables"
    result_key = "RouteTables"
    id_field = "RouteTableId"
    tag_resource_type = "route-table"

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        routes = {}
        for route in item.get("Routes", []):
            destination = route.get("DestinationCidrBlock")
            target = route.get("NatGatewayId") or route.get("GatewayId") or route.get("TransitGatewayId")
            if destination and target != "local" and route.get("Origin") != "CreateRouteTable":
                routes[destination] = target
        subnets = sorted(a["SubnetId"] for a in item.get("Associations", []) if a.get("SubnetId"))
        return {"vpc_id": item["VpcId"], "routes": routes, "subnets": subnets}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "vpc_id": refs.id(self.vpc),
            "routes": {dest: refs.id(target) for dest, target in sorted(self.routes.items())},
            "subnets": sorted((refs.id(s) for s in self.subnets), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        table = ec2_call(
            ctx,
            self.key,
            "create_route_table",
            VpcId=want["vpc_id"],
            TagSpecifications=self.tag_specs(ctx),
            # A retried create is the same request; salted with the VPC, so one made
            # again after a destroy is a new one.
            ClientToken=idempotency_token(ctx.plan_name, self.key, want["vpc_id"]),
        )["RouteTable"]
        live = self.live(ctx, table)
        return self.update(ctx, want, live, {"routes": {}, "subnets": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "routes" in diff:
            current = dict(have.fields.get("routes") or {})
            for destination, target in want["routes"].items():
                if current.get(destination) == target:
                    continue
                target_arg = (
                    {"NatGatewayId": target}
                    if target.startswith("nat-")
                    else {"TransitGatewayId": target}
                    if target.startswith("tgw-")
                    else {"GatewayId": target}
                )
                operation = "replace_route" if destination in current else "create_route"
                try:
                    ec2_call(
                        ctx, self.key, operation, RouteTableId=have.id, DestinationCidrBlock=destination, **target_arg
                    )
                except PermanentError as exc:
                    # A create retried with its ClientToken answers with the table as first made,
                    # whose routes the earlier attempt may have added already.
                    if exc.code != "RouteAlreadyExists":
                        raise
                    ec2_call(
                        ctx,
                        self.key,
                        "replace_route",
                        RouteTableId=have.id,
                        DestinationCidrBlock=destination,
                        **target_arg,
                    )
            for destination in set(current) - set(want["routes"]):
                ec2_call(
                    ctx,
                    self.key,
                    "delete_route",
                    missing_ok=True,
                    RouteTableId=have.id,
                    DestinationCidrBlock=destination,
                )
            have.fields["routes"] = dict(want["routes"])
        if "subnets" in diff:
            self._associate(ctx, have, want["subnets"])
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    def _associate(self, ctx: RunContext, have: Live, subnets: list[str]) -> None:
        current = set(have.fields.get("subnets") or [])
        missing = [s for s in subnets if s not in current]
        if missing:
            # A subnet has at most one explicit association: move it if another table has it.
            tables = ctx.aws.client("ec2").describe_route_tables(
                Filters=[{"Name": "association.subnet-id", "Values": missing}]
            )["RouteTables"]
            elsewhere = {
                a["SubnetId"]: a["RouteTableAssociationId"]
                for t in tables
                for a in t.get("Associations", [])
                if a.get("SubnetId") in missing
            }
            for subnet in missing:
                if subnet in elsewhere:
                    ec2_call(
                        ctx,
                        self.key,
                        "replace_route_table_association",
                        AssociationId=elsewhere[subnet],
                        RouteTableId=have.id,
                    )
                else:
                    ec2_call(ctx, self.key, "associate_route_table", RouteTableId=have.id, SubnetId=subnet)
        for association in (have.raw or {}).get("Associations", []):
            if association.get("SubnetId") and association["SubnetId"] not in subnets:
                ec2_call(
                    ctx,
                    self.key,
                    "disassociate_route_table",
                    missing_ok=True,
                    AssociationId=association["RouteTableAssociationId"],
                )
        have.fields["subnets"] = sorted(subnets)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        for association in (have.raw or {}).get("Associations", []):
            if association.get("SubnetId") and not association.get("Main"):
                ec2_call(
                    ctx,
                    have.key,
                    "disassociate_route_table",
                    missing_ok=True,
                    AssociationId=association["RouteTableAssociationId"],
                )
        ec2_call(ctx, have.key, "delete_route_table", missing_ok=True, RouteTableId=have.id)
