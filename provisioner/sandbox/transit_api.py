"""Transit Gateways as AWS runs them across accounts, in place of moto's single-account model.

moto keeps a Transit Gateway, its route tables and attachments inside one account's EC2
backend: a gateway shared through AWS RAM is invisible in the member account, an attachment
made there cannot name it, an attachment propagates into one route table at most, tags given
at creation are dropped, propagation never makes routes, and everything is `available` at
once. This extension answers the Transit Gateway operations from one store per region for
all accounts, as AWS does:

- Visibility: a gateway is seen by its owner and by the accounts a RAM resource share of the
  owner names (as account ids, the organization's ARN, or an OU ARN), read from moto's RAM
  backend; route tables, associations, propagations and routes only by the owner (RAM shares
  the gateway, not its tables). An attachment is seen by the account that made it (the VPC
  owner) and by the gateway's owner.
- Tags are each account's own (EC2's tags are per account: the owner's tags on a shared
  gateway do not show in the member account), kept in moto's tag store of the account.
- Options: with DefaultRouteTableAssociation/Propagation `disable` an attachment is neither
  associated nor propagated by itself; `AutoAcceptSharedAttachments=enable` makes an
  attachment from another account go `pending` -> `available` (otherwise it waits in
  `pendingAcceptance`, which the tool never uses).
- Routes: SearchTransitGatewayRoutes answers one propagated route per propagation, to the
  attached VPC's CIDR (read from moto's EC2 backend of the VPC's account).
- States, with the latency model's p50 x LATENCY_SCALE seconds (0: final at once):
  gateway `pending` -> `available` (`deleting` -> `deleted`), attachment `pending` ->
  `available` (`deleting` -> `deleted`). Deleting a gateway that still has attachments, or
  route tables other than its default one, is refused (IncorrectState), as AWS refuses it.
- EnableSharingWithAwsOrganization makes RAM a trusted service of the organization.
- CreateRoute naming a gateway the account can see (a shared one) records the target, where
  moto looks only in the caller's own backend and drops it.
"""

from __future__ import annotations

import inspect
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

# SPEC section 6: transitional states last p50 x LATENCY_SCALE seconds.
LATENCY_SCALE = 0.0
# AWS documents no figures; CreateTransitGateway typically reports `pending` for a few
# minutes and a VPC attachment for one to two (est, from provider timeouts of 10 min).
TGW_CREATE_P50 = 150.0  # est
TGW_DELETE_P50 = 60.0  # est
ATTACHMENT_CREATE_P50 = 75.0  # est
ATTACHMENT_DELETE_P50 = 60.0  # est

_lock = threading.RLock()
_gateways: dict[str, dict[str, Any]] = {}
_tables: dict[str, dict[str, Any]] = {}
_attachments: dict[str, dict[str, Any]] = {}
_applied = False


def reset() -> None:
    with _lock:
        _gateways.clear()
        _tables.clear()
        _attachments.clear()


def wrap(app: Any) -> Any:
    apply_patches()
    return app


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def _now() -> float:
    return time.monotonic()


def _iso() -> datetime:
    return datetime.now(UTC)


def _error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


# ---------------------------------------------------------------------------- state


def _advance() -> None:
    now = _now()
    for store, gone in ((_gateways, "deleted"), (_attachments, "deleted")):
        for item_id, item in list(store.items()):
            if item["state"] == "pending" and item.get("ready_at", 0) <= now:
                item["state"] = "available"
            elif item["state"] == "deleting" and item.get("gone_at", 0) <= now:
                item["state"] = gone
                store.pop(item_id, None)
                if store is _gateways:
                    for table_id in [t for t, table in _tables.items() if table["tgw"] == item_id]:
                        _tables.pop(table_id, None)
                else:
                    for table in _tables.values():
                        table["propagations"].discard(item_id)
                        if table["associations"].get(item_id):
                            table["associations"].pop(item_id, None)


def _tags(account: str, region: str, resource_id: str) -> list[dict[str, str]]:
    from moto.ec2.models import ec2_backends

    tags = ec2_backends[account][region].tags.get(resource_id, {})
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _set_tags(account: str, region: str, resource_id: str, specs: list[dict[str, Any]], kind: str) -> None:
    from moto.ec2.models import ec2_backends

    tags = {}
    for spec in specs or []:
        if spec.get("ResourceType") in (kind, None):
            tags.update({t["Key"]: t["Value"] for t in spec.get("Tags", spec.get("Tag", []))})
    if tags:
        ec2_backends[account][region].create_tags([resource_id], tags)


def _organization_of(account: str) -> tuple[str | None, set[str]]:
    """(organization ARN, OU ARNs above the account) from moto's Organizations backends."""
    try:
        from moto.organizations.models import organizations_backends
    except ImportError:  # pragma: no cover
        return None, set()
    for by_partition in list(organizations_backends.values()):
        for backend in list(by_partition.values()):
            org = getattr(backend, "org", None)
            if org is None:
                continue
            accounts = {a.id: a for a in getattr(backend, "accounts", [])}
            if account not in accounts and account != getattr(org, "master_account_id", None):
                continue
            ous = {ou.id: ou for ou in getattr(backend, "ou", [])}
            arns: set[str] = set()
            parent = getattr(accounts.get(account), "parent_id", None)
            while parent in ous:
                arns.add(ous[parent].arn)
                parent = ous[parent].parent_id
            return org.arn, arns
    return None, set()


def shared_with(gateway: dict[str, Any], account: str) -> bool:
    """Whether a RAM share of the gateway's owner names `account` (directly, or its OU or
    organization), the share and the gateway both in the gateway's region."""
    if gateway["owner"] == account:
        return True
    from moto.ram.models import ram_backends

    try:
        backend = ram_backends[gateway["owner"]][gateway["region"]]
    except KeyError:
        return False
    org_arn, ou_arns = _organization_of(account)
    for share in backend.resource_shares:
        if share.status != "ACTIVE" or gateway["arn"] not in share.resource_arns:
            continue
        for principal in share.principals:
            if principal in (account, org_arn) or principal in ou_arns:
                return True
    return False


def _visible_gateway(account: str, region: str, gateway_id: str) -> dict[str, Any]:
    gateway = _gateways.get(gateway_id)
    if gateway is None or gateway["region"] != region or not shared_with(gateway, account):
        raise _error("InvalidTransitGatewayID.NotFound", f"Transit Gateway {gateway_id} was deleted or does not exist.")
    return gateway


def _owned_table(account: str, region: str, table_id: str) -> dict[str, Any]:
    table = _tables.get(table_id)
    if table is None or table["region"] != region or table["owner"] != account:
        raise _error(
            "InvalidRouteTableID.NotFound", f"Transit Gateway Route Table {table_id} was deleted or does not exist."
        )
    return table


def _visible_attachment(account: str, region: str, attachment_id: str) -> dict[str, Any]:
    attachment = _attachments.get(attachment_id)
    if (
        attachment is None
        or attachment["region"] != region
        or account not in (attachment["owner"], attachment["tgw_owner"])
    ):
        raise _error(
            "InvalidTransitGatewayAttachmentID.NotFound",
            f"Transit Gateway Attachment {attachment_id} was deleted or does not exist.",
        )
    return attachment


# ------------------------------------------------------------------------ rendering


def _gateway_out(gateway: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "TransitGatewayId": gateway["id"],
        "TransitGatewayArn": gateway["arn"],
        "State": gateway["state"],
        "OwnerId": gateway["owner"],
        "Description": gateway.get("description") or "",
        "CreationTime": gateway["created"],
        "Options": dict(gateway["options"]),
        "Tags": _tags(account, gateway["region"], gateway["id"]),
    }


def _attachment_out(attachment: dict[str, Any], account: str, vpc_form: bool) -> dict[str, Any]:
    association = next(
        (
            {"TransitGatewayRouteTableId": t, "State": "associated"}
            for t, table in _tables.items()
            if attachment["id"] in table["associations"]
        ),
        None,
    )
    out: dict[str, Any] = {
        "TransitGatewayAttachmentId": attachment["id"],
        "TransitGatewayId": attachment["tgw"],
        "State": attachment["state"],
        "CreationTime": attachment["created"],
        "Tags": _tags(account, attachment["region"], attachment["id"]),
    }
    if vpc_form:
        out.update(
            {
                "VpcId": attachment["vpc_id"],
                "VpcOwnerId": attachment["owner"],
                "SubnetIds": list(attachment["subnet_ids"]),
                "Options": dict(attachment["options"]),
            }
        )
    else:
        out.update(
            {
                "TransitGatewayOwnerId": attachment["tgw_owner"],
                "ResourceOwnerId": attachment["owner"],
                "ResourceType": "vpc",
                "ResourceId": attachment["vpc_id"],
            }
        )
        if association:
            out["Association"] = association
    return out


def _table_out(table: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "TransitGatewayRouteTableId": table["id"],
        "TransitGatewayId": table["tgw"],
        "State": table["state"],
        "DefaultAssociationRouteTable": False,
        "DefaultPropagationRouteTable": False,
        "CreationTime": table["created"],
        "Tags": _tags(account, table["region"], table["id"]),
    }


def _vpc_cidr(account: str, region: str, vpc_id: str) -> str | None:
    from moto.ec2.models import ec2_backends

    vpc = ec2_backends[account][region].vpcs.get(vpc_id)
    return vpc.cidr_block if vpc is not None else None


def _matches(item: dict[str, Any], filters: dict[str, list[str]], fields: dict[str, Any]) -> bool:
    for name, values in (filters or {}).items():
        if name.startswith("tag:"):
            tag = name[4:]
            if not any(t["Key"] == tag and t["Value"] in values for t in item.get("Tags", [])):
                return False
        elif name == "tag-key":
            if not any(t["Key"] in values for t in item.get("Tags", [])):
                return False
        elif name in fields:
            if str(fields[name]) not in values:
                return False
    return True


# --------------------------------------------------------------------------- handlers


def create_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    options = self._get_param("Options", {}) or {}
    with _lock:
        gateway_id = _new_id("tgw")
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
            "created": _iso(),
            "state": "pending" if LATENCY_SCALE > 0 else "available",
            "ready_at": _now() + TGW_CREATE_P50 * LATENCY_SCALE,
        }
        _gateways[gateway_id] = gateway
        _set_tags(account, region, gateway_id, self._get_param("TagSpecifications", []), "transit-gateway")
        return ActionResult({"TransitGateway": _gateway_out(gateway, account)})


def describe_transit_gateways(self: Any) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        out = []
        for gateway in _gateways.values():
            if gateway["region"] != region or (ids and gateway["id"] not in ids) or not shared_with(gateway, account):
                continue
            item = _gateway_out(gateway, account)
            if _matches(
                item,
                filters,
                {"owner-id": gateway["owner"], "state": gateway["state"], "transit-gateway-id": gateway["id"]},
            ):
                out.append(item)
        missing = [i for i in ids if i not in {g["TransitGatewayId"] for g in out}]
        if missing and not filters:
            raise _error(
                "InvalidTransitGatewayID.NotFound", f"Transit Gateway {missing[0]} was deleted or does not exist."
            )
        return ActionResult({"TransitGateways": out})


def delete_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        gateway = _visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise _error("UnauthorizedOperation", f"You are not authorized to delete {gateway_id}.")
        attached = [a["id"] for a in _attachments.values() if a["tgw"] == gateway_id and a["state"] != "deleted"]
        tables = [t["id"] for t in _tables.values() if t["tgw"] == gateway_id]
        if attached or tables:
            raise _error(
                "IncorrectState",
                f"tgw {gateway_id} has non-deleted Transit Gateway Attachments or Route Tables: "
                + ", ".join(attached + tables),
            )
        gateway["state"] = "deleting"
        gateway["gone_at"] = _now() + TGW_DELETE_P50 * LATENCY_SCALE
        out = _gateway_out(gateway, account)
        _advance()
        return ActionResult({"TransitGateway": out})


def modify_transit_gateway(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    options = self._get_param("Options", {}) or {}
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        gateway = _visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise _error("UnauthorizedOperation", f"You are not authorized to modify {gateway_id}.")
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
        return ActionResult({"TransitGateway": _gateway_out(gateway, account)})


def create_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    gateway_id = self._get_param("TransitGatewayId")
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        gateway = _visible_gateway(account, region, gateway_id)
        if gateway["owner"] != account:
            raise _error("UnauthorizedOperation", f"Only the owner of {gateway_id} can create its route tables.")
        table_id = _new_id("tgw-rtb")
        table = {
            "id": table_id,
            "tgw": gateway_id,
            "owner": account,
            "region": region,
            "state": "available",
            "created": _iso(),
            "associations": {},
            "propagations": set(),
        }
        _tables[table_id] = table
        _set_tags(account, region, table_id, self._get_param("TagSpecifications", []), "transit-gateway-route-table")
        return ActionResult({"TransitGatewayRouteTable": _table_out(table, account)})


def describe_transit_gateway_route_tables(self: Any) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayRouteTableIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        out = []
        for table in _tables.values():
            if table["region"] != region or table["owner"] != account or (ids and table["id"] not in ids):
                continue
            item = _table_out(table, account)
            if _matches(
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
    with _lock:
        _advance()
        table = _owned_table(account, region, table_id)
        if table["associations"]:
            raise _error("IncorrectState", f"{table_id} has associations: {', '.join(sorted(table['associations']))}")
        out = _table_out(table, account)
        out["State"] = "deleted"
        _tables.pop(table_id, None)
        return ActionResult({"TransitGatewayRouteTable": out})


def create_transit_gateway_vpc_attachment(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends

    gateway_id = self._get_param("TransitGatewayId")
    vpc_id = self._get_param("VpcId")
    subnet_ids = self._get_param("SubnetIds", []) or []
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        gateway = _visible_gateway(account, region, gateway_id)
        if gateway["state"] not in ("available", "pending"):
            raise _error("IncorrectState", f"Transit Gateway {gateway_id} is {gateway['state']}")
        backend = ec2_backends[account][region]
        if vpc_id not in backend.vpcs:
            raise _error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        zones = []
        for subnet_id in subnet_ids:
            subnet = backend.get_subnet(subnet_id)
            if subnet.vpc_id != vpc_id:
                raise _error("InvalidParameterValue", f"Subnet {subnet_id} is not in {vpc_id}")
            zones.append(subnet.availability_zone)
        if len(set(zones)) != len(zones):
            # AWS: "You can select one subnet per Availability Zone".
            raise _error("DuplicateSubnetsInSameZone", "Only one subnet per Availability Zone may be attached.")
        for other in _attachments.values():
            if (
                other["tgw"] == gateway_id
                and other["vpc_id"] == vpc_id
                and other["state"] not in ("deleting", "deleted")
            ):
                raise _error(
                    "DuplicateTransitGatewayAttachment",
                    f"{gateway_id} has non-deleted Transit Gateway Attachments with same VPC ID.",
                )
        options = self._get_param("Options", {}) or {}
        cross_account = gateway["owner"] != account
        if cross_account and gateway["options"]["AutoAcceptSharedAttachments"] != "enable":
            state = "pendingAcceptance"
        else:
            state = "pending" if LATENCY_SCALE > 0 else "available"
        attachment = {
            "id": _new_id("tgw-attach"),
            "tgw": gateway_id,
            "tgw_owner": gateway["owner"],
            "owner": account,
            "region": region,
            "vpc_id": vpc_id,
            "subnet_ids": list(subnet_ids),
            "created": _iso(),
            "state": state,
            "ready_at": _now() + ATTACHMENT_CREATE_P50 * LATENCY_SCALE,
            "options": {
                "DnsSupport": options.get("DnsSupport") or "enable",
                "Ipv6Support": options.get("Ipv6Support") or "disable",
                "ApplianceModeSupport": options.get("ApplianceModeSupport") or "disable",
            },
        }
        _attachments[attachment["id"]] = attachment
        _set_tags(
            account, region, attachment["id"], self._get_param("TagSpecifications", []), "transit-gateway-attachment"
        )
        # Default association/propagation: only when the gateway's options ask for them.
        return ActionResult({"TransitGatewayVpcAttachment": _attachment_out(attachment, account, True)})


def _describe_attachments(self: Any, vpc_form: bool) -> Any:
    from moto.core.responses import ActionResult

    ids = self._get_param("TransitGatewayAttachmentIds", []) or []
    filters = self._filters_from_querystring()
    account, region = self.current_account, self.region
    with _lock:
        _advance()
        out = []
        for attachment in _attachments.values():
            if attachment["region"] != region or account not in (attachment["owner"], attachment["tgw_owner"]):
                continue
            if ids and attachment["id"] not in ids:
                continue
            item = _attachment_out(attachment, account, vpc_form)
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
            if _matches(item, filters, fields):
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
    with _lock:
        _advance()
        attachment = _visible_attachment(account, region, attachment_id)
        if attachment["state"] not in ("deleting", "deleted"):
            attachment["state"] = "deleting"
            attachment["gone_at"] = _now() + ATTACHMENT_DELETE_P50 * LATENCY_SCALE
        out = _attachment_out(attachment, account, True)
        _advance()
        return ActionResult({"TransitGatewayVpcAttachment": out})


def _association_args(self: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    account, region = self.current_account, self.region
    table = _owned_table(account, region, self._get_param("TransitGatewayRouteTableId"))
    attachment = _visible_attachment(account, region, self._get_param("TransitGatewayAttachmentId"))
    if attachment["tgw"] != table["tgw"]:
        raise _error("InvalidParameterValue", f"{attachment['id']} is not an attachment of {table['tgw']}")
    return table, attachment, account


def associate_transit_gateway_route_table(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
        table, attachment, _ = _association_args(self)
        if attachment["state"] not in ("available", "pending"):
            raise _error("IncorrectState", f"{attachment['id']} is {attachment['state']}")
        for other in _tables.values():
            if attachment["id"] in other["associations"]:
                # AWS: an attachment is associated with one route table at most.
                raise _error(
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

    with _lock:
        _advance()
        table, attachment, _ = _association_args(self)
        if attachment["id"] not in table["associations"]:
            raise _error("InvalidAssociation.NotFound", f"{attachment['id']} is not associated with {table['id']}")
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

    with _lock:
        _advance()
        table, attachment, _ = _association_args(self)
        if attachment["id"] in table["propagations"]:
            raise _error(
                "TransitGatewayRouteTablePropagation.Duplicate",
                f"{attachment['id']} already propagates to {table['id']}",
            )
        table["propagations"].add(attachment["id"])
        return ActionResult({"Propagation": _propagation_out(table, attachment)})


def disable_transit_gateway_route_table_propagation(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
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
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
        table = _owned_table(self.current_account, self.region, self._get_param("TransitGatewayRouteTableId"))
        out = [
            {
                "TransitGatewayAttachmentId": a,
                "ResourceId": _attachments[a]["vpc_id"],
                "ResourceType": "vpc",
                "State": "associated",
            }
            for a in sorted(table["associations"])
            if a in _attachments
        ]
        return ActionResult({"Associations": out})


def get_transit_gateway_route_table_propagations(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
        table = _owned_table(self.current_account, self.region, self._get_param("TransitGatewayRouteTableId"))
        out = [
            {
                "TransitGatewayAttachmentId": a,
                "ResourceId": _attachments[a]["vpc_id"],
                "ResourceType": "vpc",
                "State": "enabled",
            }
            for a in sorted(table["propagations"])
            if a in _attachments
        ]
        return ActionResult({"TransitGatewayRouteTablePropagations": out})


def get_transit_gateway_attachment_propagations(self: Any) -> Any:
    """The route tables an attachment propagates into (the owner's view; moto lacks it)."""
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
        attachment = _visible_attachment(
            self.current_account, self.region, self._get_param("TransitGatewayAttachmentId")
        )
        if attachment["tgw_owner"] != self.current_account:
            raise _error(
                "InvalidTransitGatewayAttachmentID.NotFound",
                f"Transit Gateway Attachment {attachment['id']} was deleted or does not exist.",
            )
        out = [
            {"TransitGatewayRouteTableId": t, "State": "enabled"}
            for t, table in sorted(_tables.items())
            if attachment["id"] in table["propagations"]
        ]
        return ActionResult({"TransitGatewayAttachmentPropagations": out})


def search_transit_gateway_routes(self: Any) -> Any:
    from moto.core.responses import ActionResult

    with _lock:
        _advance()
        table = _owned_table(self.current_account, self.region, self._get_param("TransitGatewayRouteTableId"))
        routes = []
        for attachment_id in sorted(table["propagations"]):
            attachment = _attachments.get(attachment_id)
            if attachment is None or attachment["state"] != "available":
                continue  # AWS installs a propagated route once the attachment is available
            cidr = _vpc_cidr(attachment["owner"], attachment["region"], attachment["vpc_id"])
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


# ---------------------------------------------------------------------------- patches


def apply_patches() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.ec2.responses.transit_gateway_attachments import TransitGatewayAttachment
        from moto.ec2.responses.transit_gateway_route_tables import TransitGatewayRouteTable
        from moto.ec2.responses.transit_gateways import TransitGateways

        for cls, names in (
            (
                TransitGateways,
                (
                    "create_transit_gateway",
                    "describe_transit_gateways",
                    "delete_transit_gateway",
                    "modify_transit_gateway",
                ),
            ),
            (
                TransitGatewayRouteTable,
                (
                    "create_transit_gateway_route_table",
                    "describe_transit_gateway_route_tables",
                    "delete_transit_gateway_route_table",
                    "get_transit_gateway_route_table_associations",
                    "get_transit_gateway_route_table_propagations",
                    "search_transit_gateway_routes",
                ),
            ),
            (
                TransitGatewayAttachment,
                (
                    "create_transit_gateway_vpc_attachment",
                    "describe_transit_gateway_vpc_attachments",
                    "describe_transit_gateway_attachments",
                    "delete_transit_gateway_vpc_attachment",
                    "associate_transit_gateway_route_table",
                    "disassociate_transit_gateway_route_table",
                    "enable_transit_gateway_route_table_propagation",
                    "disable_transit_gateway_route_table_propagation",
                    "get_transit_gateway_attachment_propagations",
                ),
            ),
        ):
            for name in names:
                setattr(cls, name, globals()[name])
        _patch_routes()
        _patch_ram_sharing()
        _applied = True


class _GatewayRef:
    """What moto's Route keeps of its transit gateway target: the id."""

    def __init__(self, gateway_id: str) -> None:
        self.id = gateway_id


def _patch_routes() -> None:
    from moto.ec2.models.route_tables import RouteBackend

    original_create, original_replace = RouteBackend.create_route, RouteBackend.replace_route

    def target(self: Any, gateway_id: str | None) -> Any:
        if gateway_id is None:
            return None
        with _lock:
            _visible_gateway(self.account_id, self.region_name, gateway_id)
        return _GatewayRef(gateway_id)

    def patched(original: Any) -> Any:
        signature = inspect.signature(original)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            gateway_id = signature.bind(self, *args, **kwargs).arguments.get("transit_gateway_id")
            ref = target(self, gateway_id)
            route = original(self, *args, **kwargs)
            if ref is not None:
                route.transit_gateway = ref
            return route

        return call

    create_route, replace_route = patched(original_create), patched(original_replace)

    RouteBackend.create_route = create_route  # type: ignore[method-assign]
    RouteBackend.replace_route = replace_route  # type: ignore[method-assign]


def _patch_ram_sharing() -> None:
    """EnableSharingWithAwsOrganization makes RAM a trusted service of the organization, as
    AWS does (ListAWSServiceAccessForOrganization then lists ram.amazonaws.com); moto only
    answers true."""
    from moto.ram.models import ResourceAccessManagerBackend

    original = ResourceAccessManagerBackend.enable_sharing_with_aws_organization

    def enable_sharing_with_aws_organization(self: Any) -> Any:
        result = original(self)
        self.organizations_backend.enable_aws_service_access(ServicePrincipal="ram.amazonaws.com")
        return result

    ResourceAccessManagerBackend.enable_sharing_with_aws_organization = enable_sharing_with_aws_organization  # type: ignore[method-assign]
