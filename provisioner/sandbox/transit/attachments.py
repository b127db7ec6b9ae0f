"""VPC attachments and what hangs off them: create/describe/delete, association and
propagation with route tables, the tables' and attachments' views of them, and the
propagated routes SearchTransitGatewayRoutes answers."""

from __future__ import annotations

from typing import Any

from provisioner.sandbox.transit import models
from provisioner.sandbox.transit.models import (
    ATTACHMENT_CREATE_P50,
    ATTACHMENT_DELETE_P50,
    ATTACHMENTS,
    TABLES,
    advance,
    attachment_out,
    error,
    iso,
    lock,
    matches,
    new_id,
    owned_table,
    set_tags,
    visible_attachment,
    visible_gateway,
    vpc_cidr,
)


def create_transit_gateway_vpc_attachment(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends

    gateway_id = self._get_param("TransitGatewayId")
    vpc_id = self._get_param("VpcId")
    subnet_ids = self._get_param("SubnetIds", []) or []
    account, region = self.current_account, self.region
    with lock:
        advance()
        gateway = visible_gateway(account, region, gateway_id)
        if gateway["state"] not in ("available", "pending"):
            raise error("IncorrectState", f"Transit Gateway {gateway_id} is {gateway['state']}")
        backend = ec2_backends[account][region]
        if vpc_id not in backend.vpcs:
            raise error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        zones = []
        for subnet_id in subnet_ids:
            subnet = backend.get_subnet(subnet_id)
            if subnet.vpc_id != vpc_id:
                raise error("InvalidParameterValue", f"Subnet {subnet_id} is not in {vpc_id}")
            zones.append(subnet.availability_zone)
        if len(set(zones)) != len(zones):
            # AWS: "You can select one subnet per Availability Zone".
            raise error("DuplicateSubnetsInSameZone", "Only one subnet per Availability Zone may be attached.")
        for other in ATTACHMENTS.values():
            if (
                other["tgw"] == gateway_id
                and other["vpc_id"] == vpc_id
                and other["state"] not in ("deleting", "deleted")
            ):
                raise error(
                    "DuplicateTransitGatewayAttachment",
                    f"{gateway_id} has non-deleted Transit Gateway Attachments with same VPC ID.",
                )
        options = self._get_param("Options", {}) or {}
        cross_account = gateway["owner"] != account
        if cross_account and gateway["options"]["AutoAcceptSharedAttachments"] != "enable":
            state = "pendingAcceptance"
        else:
            state = "pending" if models.LATENCY_SCALE > 0 else "available"
        attachment = {
            "id": new_id("tgw-attach"),
            "tgw": gateway_id,
            "tgw_owner": gateway["owner"],
            "owner": account,
            "region": region,
            "vpc_id": vpc_id,
            "subnet_ids": list(subnet_ids),
            "created": iso(),
            "state": state,
            "ready_at": models.now() + ATTACHMENT_CREATE_P50 * models.LATENCY_SCALE,
            "options": {
                "DnsSupport": options.get("DnsSupport") or "enable",
                "Ipv6Support": options.get("Ipv6Support") or "disable",
                "ApplianceModeSupport": options.get("ApplianceModeSupport") or "disable",
            },
        }
        ATTACHMENTS[attachment["id"]] = attachment
        set_tags(
            account, region, attachment["id"], self._get_param("TagSpecifications", []), "transit-gateway-attachment"
        )
        # Default association/propagation: only when the gateway's options ask for them.
        return ActionResult({"TransitGatewayVpcAttachment": attachment_out(attachment, account, True)})


def _describe_attachments(self: Any, vpc_form: bool) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayAttachmentIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with lock:
        advance()
        out = []
        for attachment in ATTACHMENTS.values():
            if attachment["region"] != region or account not in (attachment["owner"], attachment["tgw_owner"]):
                continue
            if ids and attachment["id"] not in ids:
                continue
            item = attachment_out(attachment, account, vpc_form)
            fields = {
                "transit-gateway-id": attachment["tgw"],
                "state": attachment["state"],
                "vpc-id": attachment["vpc_id"],
                "resource-id": attachment["vpc_id"],
                "resource-owner-id": attachment["owner"],
                "resource-type": "vpc",
                "transit-gateway-attachment-id": attachment["id"],
                "transit-gateway-owner-id": attachment["tgw_owner"],
            }
            if matches(item, filters, fields):
                out.append(item)
        key = "TransitGatewayVpcAttachments" if vpc_form else "TransitGatewayAttachments"
        return ActionResult({key: out})


def describe_transit_gateway_vpc_attachments(self: Any) -> Any:
    return _describe_attachments(self, True)


def describe_transit_gateway_attachments(self: Any) -> Any:
    return _describe_attachments(self, False)


def delete_transit_gateway_vpc_attachment(self: Any) -> Any:
    from moto.core.responses import ActionResult

    attachment_id = self._get_param("TransitGatewayAttachmentId")
    account, region = self.current_account, self.region
    with lock:
        advance()
        attachment = visible_attachment(account, region, attachment_id)
        if attachment["state"] not in ("deleting", "deleted"):
            attachment["state"] = "deleting"
            attachment["gone_at"] = models.now() + ATTACHMENT_DELETE_P50 * models.LATENCY_SCALE
        out = attachment_out(attachment, account, True)
        advance()
        return ActionResult({"TransitGatewayVpcAttachment": out})


def _association_args(self: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    account, region = self.current_account, self.region
    table = owned_table(account, region, self._get_param("TransitGatewayRouteTableId"))
    attachment = visible_attachment(account, region, self._get_param("TransitGatewayAttachmentId"))
    if attachment["tgw"] != table["tgw"]:
        raise error("InvalidParameterValue", f"{attachment['id']} is not an attachment of {table['tgw']}")
    return table, attachment, account


def associate_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table, attachment, _ = _association_args(self)
        if attachment["state"] not in ("available", "pending"):
            raise error("IncorrectState", f"{attachment['id']} is {attachment['state']}")
        for other in TABLES.values():
            if attachment["id"] in other["associations"]:
                # AWS: an attachment is associated with one route table at most.
                raise error(
                    "Resource.AlreadyAssociated", f"{attachment['id']} is already associated with {other['id']}"
                )
        table["associations"][attachment["id"]] = True
        return ActionResult(
            {
                "Association": {
                    "TransitGatewayRouteTableId": table["id"],
                    "TransitGatewayAttachmentId": attachment["id"],
                    "ResourceId": attachment["vpc_id"],
                    "ResourceType": "vpc",
                    "State": "associated",
                }
            }
        )


def disassociate_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table, attachment, _ = _association_args(self)
        if attachment["id"] not in table["associations"]:
            raise error("InvalidAssociation.NotFound", f"{attachment['id']} is not associated with {table['id']}")
        table["associations"].pop(attachment["id"], None)
        return ActionResult(
            {
                "Association": {
                    "TransitGatewayRouteTableId": table["id"],
                    "TransitGatewayAttachmentId": attachment["id"],
                    "ResourceId": attachment["vpc_id"],
                    "ResourceType": "vpc",
                    "State": "disassociated",
                }
            }
        )


def enable_transit_gateway_route_table_propagation(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table, attachment, _ = _association_args(self)
        if attachment["id"] in table["propagations"]:
            raise error(
                "TransitGatewayRouteTablePropagation.Duplicate",
                f"{attachment['id']} already propagates to {table['id']}",
            )
        table["propagations"].add(attachment["id"])
        return ActionResult({"Propagation": _propagation_out(table, attachment)})


def disable_transit_gateway_route_table_propagation(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table, attachment, _ = _association_args(self)
        table["propagations"].discard(attachment["id"])
        out = _propagation_out(table, attachment)
        out["State"] = "disabled"
        return ActionResult({"Propagation": out})


def _propagation_out(table: dict[str, Any], attachment: dict[str, Any]) -> dict[str, Any]:
    return {
        "TransitGatewayAttachmentId": attachment["id"],
        "ResourceId": attachment["vpc_id"],
        "ResourceType": "vpc",
        "TransitGatewayRouteTableId": table["id"],
        "State": "enabled",
    }


def get_transit_gateway_route_table_associations(self: Any) -> Any:
    return _table_members(self, "associations", "associated", "Associations")


def get_transit_gateway_route_table_propagations(self: Any) -> Any:
    return _table_members(self, "propagations", "enabled", "TransitGatewayRouteTablePropagations")


def _table_members(self: Any, member: str, state: str, key: str) -> Any:
    """The attachments associated with (or propagating into) a route table, in AWS's shape."""
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table = owned_table(self.current_account, self.region, self._get_param("TransitGatewayRouteTableId"))
        out = [
            {
                "TransitGatewayAttachmentId": a,
                "ResourceId": ATTACHMENTS[a]["vpc_id"],
                "ResourceType": "vpc",
                "State": state,
            }
            for a in sorted(table[member])
            if a in ATTACHMENTS
        ]
        return ActionResult({key: out})


def get_transit_gateway_attachment_propagations(self: Any) -> Any:
    """The route tables an attachment propagates into (the owner's view; moto lacks it)."""
    from moto.core.responses import ActionResult

    with lock:
        advance()
        attachment = visible_attachment(
            self.current_account, self.region, self._get_param("TransitGatewayAttachmentId")
        )
        if attachment["tgw_owner"] != self.current_account:
            raise error(
                "InvalidTransitGatewayAttachmentID.NotFound",
                f"Transit Gateway Attachment {attachment['id']} was deleted or does not exist.",
            )
        out = [
            {"TransitGatewayRouteTableId": t, "State": "enabled"}
            for t, table in sorted(TABLES.items())
            if attachment["id"] in table["propagations"]
        ]
        return ActionResult({"TransitGatewayAttachmentPropagations": out})


def search_transit_gateway_routes(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with lock:
        advance()
        table = owned_table(self.current_account, self.region, self._get_param("TransitGatewayRouteTableId"))
        routes = []
        for attachment_id in sorted(table["propagations"]):
            attachment = ATTACHMENTS.get(attachment_id)
            if attachment is None or attachment["state"] != "available":
                continue  # AWS installs a propagated route once the attachment is available
            cidr = vpc_cidr(attachment["owner"], attachment["region"], attachment["vpc_id"])
            if cidr:
                routes.append(
                    {
                        "DestinationCidrBlock": cidr,
                        "Type": "propagated",
                        "State": "active",
                        "TransitGatewayAttachments": [
                            {
                                "TransitGatewayAttachmentId": attachment_id,
                                "ResourceId": attachment["vpc_id"],
                                "ResourceType": "vpc",
                            }
                        ],
                    }
                )
        return ActionResult({"Routes": routes, "AdditionalRoutesAvailable": False})
