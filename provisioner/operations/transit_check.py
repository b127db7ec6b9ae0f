"""`check shared` on the live Transit Gateway (issue 18): prod and non-prod never reach each
other, read straight from the gateway's route tables.

The segments are the shared plan's route tables (tagged `provisioner:key =
shared/transit/route-table/<segment>`); an attachment belongs to the segment whose table it is
associated with. Segment A reaches segment B when A's table holds an active route to an
attachment of B and B's table one to an attachment of A (the way back). A prod <-> nonprod
route either way fails PROV.18, whatever made it (a propagation enabled by hand, a static
route, an attachment associated with the wrong table); the finding's detail is the live
matrix (from -> to: yes/no).
"""

from __future__ import annotations

from typing import Any

from provisioner.aws.tags import from_list, owned_key, plan_filter
from provisioner.planfile.transit import ROUTE_TABLES, SEGMENTS

TABLE_PREFIX = "shared/transit/route-table/"


def live_segment_matrix(ec2: Any, plan: str) -> dict[str, dict[str, bool]] | None:
    """segment -> segment -> reachable, from the live tables; None when there are none."""
    tables = {}
    for table in ec2.describe_transit_gateway_route_tables(Filters=plan_filter(plan))["TransitGatewayRouteTables"]:
        key = owned_key(from_list(table.get("Tags")), plan) or ""
        if key.startswith(TABLE_PREFIX) and table.get("State") == "available":
            tables[key[len(TABLE_PREFIX) :]] = table["TransitGatewayRouteTableId"]
    if not tables:
        return None
    segment_of: dict[str, str] = {}
    for segment, table_id in tables.items():
        for association in ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table_id)[
            "Associations"
        ]:
            segment_of[association["TransitGatewayAttachmentId"]] = segment
    routes_to: dict[str, set[str]] = {}
    for segment, table_id in tables.items():
        routes = ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=table_id, Filters=[{"Name": "state", "Values": ["active"]}]
        )["Routes"]
        routes_to[segment] = {
            segment_of.get(a["TransitGatewayAttachmentId"], "?")
            for r in routes
            for a in r.get("TransitGatewayAttachments", [])
        }
    names = [s for s in ROUTE_TABLES if s in tables]
    return {a: {b: a != b and b in routes_to[a] and a in routes_to[b] for b in names} for a in names}


def separation_problems(matrix: dict[str, dict[str, bool]]) -> list[str]:
    """The prod <-> nonprod pairs that reach each other (one way is enough to fail)."""
    prod, nonprod = SEGMENTS
    return [f"{a} -> {b}" for a, b in ((prod, nonprod), (nonprod, prod)) if matrix.get(a, {}).get(b)]


def one_way_problems(ec2: Any, plan: str) -> list[str]:
    """Routes from a prod table to a nonprod attachment or back, even without the way back."""
    matrix_tables = {}
    for table in ec2.describe_transit_gateway_route_tables(Filters=plan_filter(plan))["TransitGatewayRouteTables"]:
        key = owned_key(from_list(table.get("Tags")), plan) or ""
        if key.startswith(TABLE_PREFIX):
            matrix_tables[key[len(TABLE_PREFIX) :]] = table["TransitGatewayRouteTableId"]
    segment_of = {}
    for segment, table_id in matrix_tables.items():
        for association in ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=table_id)[
            "Associations"
        ]:
            segment_of[association["TransitGatewayAttachmentId"]] = segment
    problems = []
    prod, nonprod = SEGMENTS
    for segment, other in ((prod, nonprod), (nonprod, prod)):
        if segment not in matrix_tables:
            continue
        for route in ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=matrix_tables[segment], Filters=[{"Name": "state", "Values": ["active"]}]
        )["Routes"]:
            for attachment in route.get("TransitGatewayAttachments", []):
                if segment_of.get(attachment["TransitGatewayAttachmentId"]) == other:
                    problems.append(
                        f"{segment} table routes {route.get('DestinationCidrBlock')} to "
                        f"{attachment['TransitGatewayAttachmentId']} ({other})"
                    )
    return problems


def matrix_text(matrix: dict[str, dict[str, bool]]) -> str:
    return "; ".join(f"{a} -> {b}: {'yes' if matrix[a][b] else 'no'}" for a in matrix for b in matrix if a != b)
