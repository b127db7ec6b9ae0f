"""Transit Gateway and route table calls: Create/Describe/Delete/ModifyTransitGateway and
Create/Describe/DeleteTransitGatewayRouteTable (moto's EC2 responses call these)."""

from __future__ import annotations

from typing import Any

from provisioner.sandbox.transit import models
from provisioner.sandbox.transit.models import (
    ATTACHMENTS,
    GATEWAYS,
    TABLES,
    TGW_CREATE_P50,
    TGW_DELETE_P50,
    advance,
    error,
    gateway_out,
    iso,
    lock,
    matches,
    new_id,
    owned_table,
    set_tags,
    shared_with,
    table_out,
    visible_gateway,
)


def create_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    options = self._get_param("Options", {}) or {}
    with lock:
        gateway_id = new_id("tgw")
        account, region = self.current_account, self.region
        opts = {
            "AmazonSideAsn": int(options.get("AmazonSideAsn") or 64512),
            "AutoAcceptSharedAttachments": options.get("AutoAcceptSharedAttachments") or "disable",
            "DefaultRouteTableAssociation": options.get("DefaultRouteTableAssociation") or "enable",
            "DefaultRouteTablePropagation": options.get("DefaultRouteTablePropagation") or "enable",
            "VpnEcmpSupport": options.get("VpnEcmpSupport") or "enable",
            "DnsSupport": options.get("DnsSupport") or "enable",
            "MulticastSupport": options.get("MulticastSupport") or "disable",
        }
        gateway = {
            "id": gateway_id,
            "owner": account,
            "region": region,
            "options": opts,
            "arn": f"arn:aws:ec2:{region}:{account}:transit-gateway/{gateway_id}",
            "description": self._get_param("Description"),
            "created": iso(),
            "state": "pending" if models.LATENCY_SCALE > 0 else "available",
            "ready_at": models.now() + TGW_CREATE_P50 * models.LATENCY_SCALE,
        }
        GATEWAYS[gateway_id] = gateway
        set_tags(account, region, gateway_id, self._get_param("TagSpecifications", []), "transit-gateway")
        return ActionResult({"TransitGateway": gateway_out(gateway, account)})


def describe_transit_gateways(self: Any) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with lock:
        advance()
        out = []
        for gateway in GATEWAYS.values():
            if gateway["region"] != region or (ids and gateway["id"] not in ids) or not shared_with(gateway, account):
                continue
            item = gateway_out(gateway, account)
            if matches(
                item,
                filters,
                {"owner-id": gateway["owner"], "state": gateway["state"], "transit-gateway-id": gateway["id"]},
            ):
                out.append(item)
        missing = [i for i in ids if i not in {g["TransitGatewayId"] for g in out}]
        if missing and not filters:
            raise error(
                "InvalidTransitGatewayID.NotFound", f"Transit Gateway {missing[0]} was deleted or does not exist."
            )
        return ActionResult({"TransitGateways": out})


def delete_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    account, region = self.current_account, self.region
    with lock:
        advance()
        gateway = visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise error("UnauthorizedOperation", f"You are not authorized to delete {gateway_id}.")
        attached = [a["id"] for a in ATTACHMENTS.values() if a["tgw"] == gateway_id and a["state"] != "deleted"]
        tables = [t["id"] for t in TABLES.values() if t["tgw"] == gateway_id]
        if attached or tables:
            raise error(
                "IncorrectState",
                f"tgw {gateway_id} has non-deleted Transit Gateway Attachments or Route Tables: "
                + ", ".join(attached + tables),
            )
        gateway["state"] = "deleting"
        gateway["gone_at"] = models.now() + TGW_DELETE_P50 * models.LATENCY_SCALE
        out = gateway_out(gateway, account)
        advance()
        return ActionResult({"TransitGateway": out})


def modify_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    options = self._get_param("Options", {}) or {}
    account, region = self.current_account, self.region
    with lock:
        advance()
        gateway = visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise error("UnauthorizedOperation", f"You are not authorized to modify {gateway_id}.")
        for name in (
            "AmazonSideAsn",
            "AutoAcceptSharedAttachments",
            "DefaultRouteTableAssociation",
            "DefaultRouteTablePropagation",
            "VpnEcmpSupport",
            "DnsSupport",
        ):
            if options.get(name) is not None:
                gateway["options"][name] = int(options[name]) if name == "AmazonSideAsn" else options[name]
        if self._get_param("Description") is not None:
            gateway["description"] = self._get_param("Description")
        return ActionResult({"TransitGateway": gateway_out(gateway, account)})


def create_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    account, region = self.current_account, self.region
    with lock:
        advance()
        gateway = visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise error("UnauthorizedOperation", f"Only the owner of {gateway_id} can create its route tables.")
        table_id = new_id("tgw-rtb")
        table = {
            "id": table_id,
            "tgw": gateway_id,
            "owner": account,
            "region": region,
            "state": "available",
            "created": iso(),
            "associations": {},
            "propagations": set(),
        }
        TABLES[table_id] = table
        set_tags(account, region, table_id, self._get_param("TagSpecifications", []), "transit-gateway-route-table")
        return ActionResult({"TransitGatewayRouteTable": table_out(table, account)})


def describe_transit_gateway_route_tables(self: Any) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayRouteTableIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with lock:
        advance()
        out = []
        for table in TABLES.values():
            if table["region"] != region or table["owner"] != account or (ids and table["id"] not in ids):
                continue
            item = table_out(table, account)
            if matches(
                item,
                filters,
                {
                    "transit-gateway-id": table["tgw"],
                    "state": table["state"],
                    "transit-gateway-route-table-id": table["id"],
                },
            ):
                out.append(item)
        return ActionResult({"TransitGatewayRouteTables": out})


def delete_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    table_id = self._get_param("TransitGatewayRouteTableId")
    account, region = self.current_account, self.region
    with lock:
        advance()
        table = owned_table(account, region, table_id)
        if table["associations"]:
            raise error("IncorrectState", f"{table_id} has associations: {', '.join(sorted(table['associations']))}")
        out = table_out(table, account)
        out["State"] = "deleted"
        TABLES.pop(table_id, None)
        return ActionResult({"TransitGatewayRouteTable": out})
