"""One store per region of Transit Gateways, their route tables and attachments for all
accounts, the settings (latency, the clock) read through this module, the transitions of
their states, who may see what (RAM shares), and their rendering in EC2's shapes."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
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

lock = threading.RLock()
GATEWAYS: dict[str, dict[str, Any]] = {}
TABLES: dict[str, dict[str, Any]] = {}
ATTACHMENTS: dict[str, dict[str, Any]] = {}


def state() -> list[Any]:
    """The containers `reset()` clears, for a sandbox snapshot (sandbox/snapshot.py)."""
    return [GATEWAYS, TABLES, ATTACHMENTS]


def reset() -> None:
    with lock:
        GATEWAYS.clear()
        TABLES.clear()
        ATTACHMENTS.clear()


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def now() -> float:
    return time.monotonic()


def iso() -> datetime:
    return datetime.now(UTC)


def error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def advance() -> None:
    current = now()
    for store, gone in ((GATEWAYS, "deleted"), (ATTACHMENTS, "deleted")):
        for item_id, item in list(store.items()):
            if item["state"] == "pending" and item.get("ready_at", 0) <= current:
                item["state"] = "available"
            elif item["state"] == "deleting" and item.get("gone_at", 0) <= current:
                item["state"] = gone
                store.pop(item_id, None)
                if store is GATEWAYS:
                    for table_id in [t for t, table in TABLES.items() if table["tgw"] == item_id]:
                        TABLES.pop(table_id, None)
                else:
                    for table in TABLES.values():
                        table["propagations"].discard(item_id)
                        if table["associations"].get(item_id):
                            table["associations"].pop(item_id, None)


def tags_of(account: str, region: str, resource_id: str) -> list[dict[str, str]]:
    from moto.ec2.models import ec2_backends

    tags = ec2_backends[account][region].tags.get(resource_id, {})
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def set_tags(account: str, region: str, resource_id: str, specs: list[dict[str, Any]], kind: str) -> None:
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


def _lookup(
    store: dict[str, dict[str, Any]],
    item_id: str,
    region: str,
    visible: Callable[[dict[str, Any]], bool],
    code: str,
    label: str,
) -> dict[str, Any]:
    """The item of the region, if the caller may see it; else EC2's NotFound for its kind."""
    item = store.get(item_id)
    if item is None or item["region"] != region or not visible(item):
        raise error(code, f"{label} {item_id} was deleted or does not exist.")
    return item


def visible_gateway(account: str, region: str, gateway_id: str) -> dict[str, Any]:
    return _lookup(
        GATEWAYS,
        gateway_id,
        region,
        lambda gateway: shared_with(gateway, account),
        "InvalidTransitGatewayID.NotFound",
        "Transit Gateway",
    )


def owned_table(account: str, region: str, table_id: str) -> dict[str, Any]:
    """A route table, seen only by the gateway's owner (RAM shares the gateway, not its tables)."""
    return _lookup(
        TABLES,
        table_id,
        region,
        lambda table: table["owner"] == account,
        "InvalidRouteTableID.NotFound",
        "Transit Gateway Route Table",
    )


def visible_attachment(account: str, region: str, attachment_id: str) -> dict[str, Any]:
    """An attachment, seen by the account that made it and by the gateway's owner."""
    return _lookup(
        ATTACHMENTS,
        attachment_id,
        region,
        lambda attachment: account in (attachment["owner"], attachment["tgw_owner"]),
        "InvalidTransitGatewayAttachmentID.NotFound",
        "Transit Gateway Attachment",
    )


def gateway_out(gateway: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "TransitGatewayId": gateway["id"],
        "TransitGatewayArn": gateway["arn"],
        "State": gateway["state"],
        "OwnerId": gateway["owner"],
        "Description": gateway.get("description") or "",
        "CreationTime": gateway["created"],
        "Options": dict(gateway["options"]),
        "Tags": tags_of(account, gateway["region"], gateway["id"]),
    }


def attachment_out(attachment: dict[str, Any], account: str, vpc_form: bool) -> dict[str, Any]:
    association = next(
        (
            {"TransitGatewayRouteTableId": t, "State": "associated"}
            for t, table in TABLES.items()
            if attachment["id"] in table["associations"]
        ),
        None,
    )
    out: dict[str, Any] = {
        "TransitGatewayAttachmentId": attachment["id"],
        "TransitGatewayId": attachment["tgw"],
        "State": attachment["state"],
        "CreationTime": attachment["created"],
        "Tags": tags_of(account, attachment["region"], attachment["id"]),
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


def table_out(table: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "TransitGatewayRouteTableId": table["id"],
        "TransitGatewayId": table["tgw"],
        "State": table["state"],
        "DefaultAssociationRouteTable": False,
        "DefaultPropagationRouteTable": False,
        "CreationTime": table["created"],
        "Tags": tags_of(account, table["region"], table["id"]),
    }


def vpc_cidr(account: str, region: str, vpc_id: str) -> str | None:
    from moto.ec2.models import ec2_backends

    vpc = ec2_backends[account][region].vpcs.get(vpc_id)
    return vpc.cidr_block if vpc is not None else None


def matches(item: dict[str, Any], filters: dict[str, list[str]], fields: dict[str, Any]) -> bool:
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
