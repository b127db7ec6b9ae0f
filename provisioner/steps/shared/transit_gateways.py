"""The Shared Services side of the Transit Gateway (issue 18): the gateway, its segment route
tables, its RAM share, and the guard that keeps `destroy shared` from pulling it out from
under the environments.

ec2:transit-gateway: its own ASN, default route-table association and propagation off (every
attachment is placed in a segment on purpose, never in a default table that would join
prod and non-prod), auto-accept of shared attachments on (the environments' attachments are
made in their own accounts, through the RAM share), DNS support on. Create reports `pending`
for minutes (est 150 s) and apply waits for `available`: attachments need it. Options are
changed in place with ModifyTransitGateway, the ASN too (AWS allows it while no attachment
uses BGP, which VPC attachments never do).

ec2:transit-gateway-route-table: one per segment (`prod`, `nonprod`, `shared`). AWS refuses to
delete a table that still has associations; destroy removes the attachments' routing first.

ram:resource-share: the gateway shared with the environment accounts (by id), external
principals not allowed: within the organization, with sharing enabled by the organization
plan (`ram:EnableSharingWithAwsOrganization`), member accounts need no invitation. RAM
shares are found by name (`<plan>-transit-gateway`: GetResourceShares does not filter on
tags everywhere); a change of principals or resources replaces the share (the sandbox has
no AssociateResourceShare; on AWS the replacement takes seconds and attachments stay up).

ec2:transit-gateway-guard: owns nothing; it exists while the gateway does, and every other
node of the shared plan is deleted after it. Its delete refuses while attachments from
other accounts (the environments') use the gateway, naming each (account, VPC, attachment,
the `provisioner:plan` the environment account tagged it with is not visible here, so the
account is named), so `destroy shared` stops before it deletes anything. `plan shared
--destroy` lists the same attachments as blockers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.waiters import wait_for
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext, field_changes, tags_changed
from provisioner.steps.common.directory import reader
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call

CREATE_TIMEOUT = 900.0  # est p50 150 s; AWS publishes no figure, providers wait 10 min
DELETE_TIMEOUT = 900.0


@dataclass(kw_only=True)
class TransitGateway(Ec2Resource):
    asn: int
    description: str = ""

    type = "ec2:transit-gateway"
    iam_actions = (
        "ec2:DescribeTransitGateways",
        "ec2:CreateTransitGateway",
        "ec2:ModifyTransitGateway",
        "ec2:DeleteTransitGateway",
        "ec2:CreateTags",
    )
    create_seconds = 150.0  # est: `pending` for a few minutes (latency model row added, est)
    delete_seconds = 60.0  # est
    describe_operation = "describe_transit_gateways"
    result_key = "TransitGateways"
    id_field = "TransitGatewayId"
    tag_resource_type = "transit-gateway"
    state_field = "State"
    gone_states = frozenset({"deleting", "deleted"})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        options = item.get("Options") or {}
        return {
            "asn": options.get("AmazonSideAsn"),
            "auto_accept_shared_attachments": options.get("AutoAcceptSharedAttachments"),
            "default_route_table_association": options.get("DefaultRouteTableAssociation"),
            "default_route_table_propagation": options.get("DefaultRouteTablePropagation"),
            "dns_support": options.get("DnsSupport"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "asn": self.asn,
            "auto_accept_shared_attachments": "enable",
            "default_route_table_association": "disable",
            "default_route_table_propagation": "disable",
            "dns_support": "enable",
        }

    def outputs(self, live: Live) -> dict[str, Any]:
        return {
            "id": live.id,
            "arn": (live.raw or {}).get("TransitGatewayArn"),
            "owner": (live.raw or {}).get("OwnerId"),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        gateway = ec2_call(
            ctx,
            self.key,
            "create_transit_gateway",
            Description=self.description or f"provisioner {ctx.plan_name}",
            Options=_options(want, create=True),
            TagSpecifications=self.tag_specs(ctx),
        )["TransitGateway"]
        return self.settle(ctx, self.live(ctx, gateway))

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if bool(field_changes(diff)):
            ec2_call(
                ctx, self.key, "modify_transit_gateway", TransitGatewayId=have.id, Options=_options(want, create=False)
            )
            have.fields.update(want)
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    def settle(self, ctx: RunContext, have: Live) -> Live:
        wait_for(
            ctx,
            key=self.key,
            what=f"Transit Gateway {have.id}",
            read_state=lambda: _gateway_state(ctx, have.id),
            done={"available"},
            failed={"deleting", "deleted", None},
            timeout=CREATE_TIMEOUT,
            expected=self.create_seconds,
        )
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        ec2_call(ctx, have.key, "delete_transit_gateway", missing_ok=True, TransitGatewayId=have.id)
        wait_for(
            ctx,
            key=have.key,
            what=f"Transit Gateway {have.id} deletion",
            read_state=lambda: _gateway_state(ctx, have.id),
            done={"deleted", None},
            timeout=DELETE_TIMEOUT,
            expected=cls.delete_seconds,
        )


def _options(want: dict[str, Any], create: bool) -> dict[str, Any]:
    options = {
        "AmazonSideAsn": want["asn"],
        "AutoAcceptSharedAttachments": want["auto_accept_shared_attachments"],
        "DefaultRouteTableAssociation": want["default_route_table_association"],
        "DefaultRouteTablePropagation": want["default_route_table_propagation"],
        "DnsSupport": want["dns_support"],
    }
    if create:
        options["VpnEcmpSupport"] = "enable"
    return options


def _gateway_state(ctx: RunContext, gateway_id: str) -> str | None:
    try:
        found = ctx.aws.poller("ec2").describe_transit_gateways(TransitGatewayIds=[gateway_id])["TransitGateways"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return found[0]["State"] if found else None


@dataclass(kw_only=True)
class TransitRouteTable(Ec2Resource):
    gateway: str

    type = "ec2:transit-gateway-route-table"
    iam_actions = (
        "ec2:DescribeTransitGatewayRouteTables",
        "ec2:CreateTransitGatewayRouteTable",
        "ec2:DeleteTransitGatewayRouteTable",
        "ec2:CreateTags",
    )
    create_seconds = 5.0  # est
    delete_seconds = 5.0  # est
    replace_on = frozenset({"gateway_id"})
    describe_operation = "describe_transit_gateway_route_tables"
    result_key = "TransitGatewayRouteTables"
    id_field = "TransitGatewayRouteTableId"
    tag_resource_type = "transit-gateway-route-table"
    state_field = "State"
    gone_states = frozenset({"deleting", "deleted"})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"gateway_id": item.get("TransitGatewayId")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"gateway_id": refs.id(self.gateway)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        table = ec2_call(
            ctx,
            self.key,
            "create_transit_gateway_route_table",
            TransitGatewayId=want["gateway_id"],
            TagSpecifications=self.tag_specs(ctx),
        )["TransitGatewayRouteTable"]
        return self.live(ctx, table)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        ec2_call(
            ctx, have.key, "delete_transit_gateway_route_table", missing_ok=True, TransitGatewayRouteTableId=have.id
        )


@dataclass(kw_only=True)
class ResourceShare(Resource):
    """ram:resource-share of one resource (a node key's `arn` output) with account ids."""

    resource: str
    principals: tuple[str, ...] = ()  # keys of the directory node's outputs (account keys) or 12-digit ids
    directory: str = "organization/accounts"

    type = "ram:resource-share"
    iam_actions = (
        "ram:GetResourceShares",
        "ram:GetResourceShareAssociations",
        "ram:CreateResourceShare",
        "ram:DeleteResourceShare",
        "ram:TagResource",
        "ec2:DescribeTransitGateways",
    )
    create_seconds = 2.0  # est
    delete_seconds = 2.0  # est
    replace_on = frozenset({"principals", "resources"})
    taggable = False  # found by name (see module docstring); tags are set at creation all the same

    @staticmethod
    def share_name(plan: str) -> str:
        return f"{plan}-transit-gateway"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = [n for n in ctx.nodes.values() if isinstance(n, cls)]
        if not nodes:
            return []
        ram = ctx.aws.client("ram")
        shares = [
            s
            for s in ram.get_resource_shares(resourceOwner="SELF").get("resourceShares", [])
            if s.get("status") == "ACTIVE" and s.get("name") == cls.share_name(ctx.plan_name)
        ]
        lives = []
        for share in shares:
            arn = share["resourceShareArn"]
            associations = {
                kind: sorted(
                    a["associatedEntity"]
                    for a in ram.get_resource_share_associations(associationType=kind, resourceShareArns=[arn]).get(
                        "resourceShareAssociations", []
                    )
                    if a.get("status") in ("ASSOCIATED", "ASSOCIATING")
                )
                for kind in ("PRINCIPAL", "RESOURCE")
            }
            lives.append(
                Live(
                    key=nodes[0].key,
                    id=arn,
                    raw=share,
                    fields=cls.observe({**share, "associations": associations}),
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: GetResourceShares' share with its live `associations` (associated or being
        associated), by association type."""
        return {"principals": item["associations"]["PRINCIPAL"], "resources": item["associations"]["RESOURCE"]}

    def desired(self, refs: Refs) -> dict[str, Any]:
        principals = [p if p.isdigit() else refs.get(self.directory, p) for p in self.principals]
        return {"principals": sorted(principals, key=str), "resources": [refs.get(self.resource, "arn")]}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            share = ctx.aws.client("ram").create_resource_share(
                name=self.share_name(ctx.plan_name),
                resourceArns=want["resources"],
                principals=want["principals"],
                allowExternalPrincipals=False,
                tags=[{"key": k, "value": v} for k, v in ctx.tags_for(self).items()],
            )["resourceShare"]
        except ClientError as exc:
            raise as_provisioner_error(
                exc,
                key=self.key,
                hint="sharing within the organization must be enabled: "
                "apply the organization plan (it enables RAM sharing with the organization)",
            ) from exc
        return Live(key=self.key, id=share["resourceShareArn"], raw=share, fields=dict(want))

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("ram").delete_resource_share(resourceShareArn=have.id)
        except ClientError as exc:
            if not is_not_found(exc) and "UnknownResource" not in str(exc):
                raise as_provisioner_error(exc, key=have.key) from exc


def foreign_attachments(ctx: RunContext, gateway_id: str) -> list[dict[str, Any]]:
    """Attachments to the gateway that other accounts made (the environments'), not deleted."""
    found = ctx.aws.client("ec2").describe_transit_gateway_attachments(
        Filters=[{"Name": "transit-gateway-id", "Values": [gateway_id]}]
    )["TransitGatewayAttachments"]
    own = ctx.aws.account_id
    return [a for a in found if a.get("ResourceOwnerId") != own and a.get("State") not in ("deleting", "deleted")]


def account_names(ctx: RunContext) -> dict[str, str]:
    """Account id -> name from Organizations (through the management session, or this
    account as a delegated administrator); empty when it cannot be read."""

    def read() -> dict[str, str]:
        try:
            accounts = describe_all(reader(ctx).client("organizations", purpose="poll"), "list_accounts", "Accounts")
        except ClientError:
            return {}
        return {str(a["Id"]): str(a.get("Name", "")) for a in accounts}

    return ctx.cached(("transit", "account-names"), read)


def describe_attachment(item: dict[str, Any], names: dict[str, str] | None = None) -> str:
    account = str(item.get("ResourceOwnerId"))
    name = (names or {}).get(account)
    return (
        f"Transit Gateway attachment {item['TransitGatewayAttachmentId']} of VPC {item.get('ResourceId')} "
        f"in account {account}{f' ({name})' if name else ''}, {item.get('State')}"
    )


@dataclass(kw_only=True)
class TransitGatewayGuard(Resource):
    gateway: str

    type = "ec2:transit-gateway-guard"
    iam_actions = ("ec2:DescribeTransitGatewayAttachments", "organizations:ListAccounts")
    create_seconds = 0.0
    delete_seconds = 0.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        guards = [n for n in ctx.nodes.values() if isinstance(n, cls)]
        if not guards:
            return []
        gateways = {live.key: live for live in ctx.live(TransitGateway)}
        return [Live(key=g.key, id=gateways[g.gateway].id) for g in guards if g.gateway in gateways]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """A guard compares nothing: it stands for its gateway and refuses deletes."""
        return {}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        return Live(key=self.key, id=str(ctx.refs.id(self.gateway)))

    @classmethod
    def destroy_blockers(cls, ctx: RunContext, have: Live) -> list[str]:
        return [
            f"{describe_attachment(a, account_names(ctx))}: destroy that environment (or set its network.transit.attach: false "
            "and apply it) first"
            for a in foreign_attachments(ctx, have.id)
        ]

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        attached = foreign_attachments(ctx, have.id)
        if attached:
            raise PermanentError(
                f"Transit Gateway {have.id} is in use by {len(attached)} environment attachment(s): "
                + "; ".join(describe_attachment(a, account_names(ctx)) for a in attached)
                + "; nothing was deleted",
                key=have.key,
                code="TransitGatewayInUse",
                hint="destroy the environments attached to it first (or apply them with network.transit.attach: false)",
            )
