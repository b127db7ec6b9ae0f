"""Attaching a VPC to the Shared Services Transit Gateway, and placing the attachment in its
segment (issue 18). Used by environment plans for their VPC and by the shared plan for its own.

network/transit/gateway        ec2:transit-gateway-lookup (read-only): the shared plan's gateway,
│                              found by its tags in the Shared Services account, and checked to
│                              be visible here (the RAM share reached this account)
├── network/transit/attachment ec2:transit-gateway-vpc-attachment: in this account (the VPC's),
│                              one subnet per AZ (the private ones); `pending` about 75 s (est)
└── network/transit/routing    ec2:transit-gateway-routing: association with the segment's route
                               table and propagation into the others it feeds, made in the
                               gateway owner's account

Who makes what: an attachment is the VPC owner's resource, so the environment plan creates it
in its account (the gateway auto-accepts shared attachments). Route tables, associations and
propagations belong to the gateway's owner; the environment plan makes its own attachment's
association and propagation through a session in the Shared Services account (the
organization access role, assumed from the management credentials the run started with),
so one `apply dev` joins dev to the network and one `destroy dev` takes it out: its private
routes to the shared VPC go with the route tables, then the routing, then the attachment.
The shared plan never touches an environment's attachment; it refuses to be destroyed while
any exists (steps/shared/transit_gateways.py).

Routing is not taggable; it is found from the owner's route tables (tagged by the shared
plan, one per segment) and their associations and propagations of this node's attachment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list, key_of
from provisioner.aws.waiters import wait_for
from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext
from provisioner.planfile.transit import SHARED_PLAN
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call

GATEWAY_KEY = "shared/transit/gateway"  # the shared plan's gateway node


def table_key(segment: str) -> str:
    return f"shared/transit/route-table/{segment}"


def owner_session(ctx: RunContext, account: str | None) -> Any:
    """A session in the gateway owner's account: the run's own when it is that account, else
    the organization access role assumed from the run's starting (management) credentials."""
    if not account or account == ctx.aws.account_id:
        return ctx.aws

    def assume() -> Any:
        base = getattr(ctx.aws, "management", None) or ctx.aws
        role = "OrganizationAccountAccessRole"
        organization = getattr(ctx.plan, "organization", None)
        if organization is not None:
            role = organization.access_role_name
        arn = f"arn:{ctx.aws.partition}:iam::{account}:role/{role}"
        try:
            return base.assume_role(arn, f"provisioner-{ctx.plan_name}-transit")
        except ClientError as exc:
            raise as_provisioner_error(
                exc, key="network/transit", hint=f"the run's credentials must be allowed to assume {arn}"
            ) from exc

    return ctx.cached(("transit-owner-session", account), assume)


def segment_tables(session: Any, tables: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """segment name -> route table id, of the shared plan's gateway (tables tagged by it);
    `tables`: an earlier `shared_route_tables` read, else read now."""
    out = {}
    for table in shared_route_tables(session) if tables is None else tables:
        key = key_of(from_list(table.get("Tags")))
        if key and key.startswith(table_key("")) and table.get("State") == "available":
            out[key[len(table_key("")) :]] = table["TransitGatewayRouteTableId"]
    return out


def shared_route_tables(session: Any) -> list[dict[str, Any]]:
    """The route tables the shared plan tagged, in the gateway owner's account (one read)."""
    return list(
        session.client("ec2", purpose="poll").describe_transit_gateway_route_tables(
            Filters=[{"Name": f"tag:{TAG_PLAN}", "Values": [SHARED_PLAN]}]
        )["TransitGatewayRouteTables"]
    )


def discovered_route_tables(ctx: RunContext, account: str | None) -> list[dict[str, Any]]:
    """`shared_route_tables`, read once per discovery: the gateway lookup and the routing's
    discovery share it (the route tables are the shared plan's; an environment's run does
    not change them)."""
    return ctx.cached(("transit-route-tables", account), lambda: shared_route_tables(owner_session(ctx, account)))


@dataclass(kw_only=True)
class TransitGatewayLookup(Resource):
    owner_account: str  # 12-digit id of the Shared Services account

    type = "ec2:transit-gateway-lookup"
    iam_actions = (
        "ec2:DescribeTransitGateways",
        "ec2:DescribeTransitGatewayRouteTables",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "sts:AssumeRole",
    )
    read_only = True
    taggable = False

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """A data source compares nothing: it publishes the gateway's id."""
        return {}

    def read(self, ctx: RunContext) -> Live:
        owner = owner_session(ctx, self.owner_account)
        # The gateway's id from its route tables (DescribeTransitGatewayRouteTables returns
        # each table's TransitGatewayId): the routing's discovery reads those tables anyway, so
        # the gateway costs no read of its own when the shared plan's tables all sit on one
        # gateway (issue #17). A table belongs to one gateway for life, and the shared plan
        # deletes its tables before its gateway (and refuses to while an environment is
        # attached), so its available tables name its gateway. Without tables (the shared plan
        # not applied, or applied in part) or with tables on several gateways, the gateway is
        # read by its tags, which explains what is missing.
        tables = discovered_route_tables(ctx, self.owner_account)
        segments = set(segment_tables(owner, tables).values())
        on = {t["TransitGatewayId"] for t in tables if t["TransitGatewayRouteTableId"] in segments}
        if len(on) == 1:
            gateway_id = next(iter(on))
        else:
            found = owner.client("ec2", purpose="poll").describe_transit_gateways(
                Filters=[
                    {"Name": f"tag:{TAG_PLAN}", "Values": [SHARED_PLAN]},
                    {"Name": f"tag:{TAG_KEY}", "Values": [GATEWAY_KEY]},
                ]
            )["TransitGateways"]
            found = [g for g in found if g.get("State") in ("available", "pending")]
            if not found:
                raise PermanentError(
                    f"the shared plan's Transit Gateway does not exist in account {self.owner_account}",
                    key=self.key,
                    code="TransitGatewayNotFound",
                    hint="apply the shared plan first (`provisioner apply shared`), "
                    "or set network.transit.attach: false",
                )
            gateway_id = found[0]["TransitGatewayId"]
        if any(live.fields.get("gateway_id") == gateway_id for live in ctx.live(TransitAttachment)):
            # This account already has its attachment to the gateway (the shared EC2 read of
            # attachments finds it): the share has reached it, and the check below, which
            # exists to explain a create AWS would refuse, cannot change the plan.
            return Live(key=self.key, id=gateway_id, outputs={"owner": self.owner_account})
        try:
            visible = ctx.aws.client("ec2", purpose="poll").describe_transit_gateways(TransitGatewayIds=[gateway_id])[
                "TransitGateways"
            ]
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            visible = []
        if not visible:
            raise PermanentError(
                f"Transit Gateway {gateway_id} is not shared with account {ctx.aws.account_id}",
                key=self.key,
                code="TransitGatewayNotShared",
                hint="apply the shared plan with this account in network.share_with (its RAM share), and the "
                "organization plan (it enables sharing within the organization; outside it, accept the invitation)",
            )
        return Live(key=self.key, id=gateway_id, outputs={"owner": self.owner_account})


@dataclass(kw_only=True)
class TransitAttachment(Ec2Resource):
    gateway: str
    vpc: str
    subnets: tuple[str, ...]

    type = "ec2:transit-gateway-vpc-attachment"
    iam_actions = (
        "ec2:DescribeTransitGatewayVpcAttachments",
        "ec2:CreateTransitGatewayVpcAttachment",
        "ec2:DeleteTransitGatewayVpcAttachment",
        "ec2:CreateTags",
    )
    create_seconds = 75.0  # est: `pending` -> `available` in one to two minutes
    delete_seconds = 60.0  # est
    replace_on = frozenset({"gateway_id", "vpc_id", "subnet_ids"})
    describe_operation = "describe_transit_gateway_vpc_attachments"
    result_key = "TransitGatewayVpcAttachments"
    id_field = "TransitGatewayAttachmentId"
    tag_resource_type = "transit-gateway-attachment"
    state_field = "State"
    gone_states = frozenset({"deleting", "deleted", "failed", "rejected"})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "gateway_id": item.get("TransitGatewayId"),
            "vpc_id": item.get("VpcId"),
            "subnet_ids": sorted(item.get("SubnetIds") or []),
            "dns_support": (item.get("Options") or {}).get("DnsSupport"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "gateway_id": refs.id(self.gateway),
            "vpc_id": refs.id(self.vpc),
            "subnet_ids": sorted((refs.id(s) for s in self.subnets), key=str),
            "dns_support": "enable",
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        attachment = ec2_call(
            ctx,
            self.key,
            "create_transit_gateway_vpc_attachment",
            TransitGatewayId=want["gateway_id"],
            VpcId=want["vpc_id"],
            SubnetIds=want["subnet_ids"],
            Options={"DnsSupport": "enable"},
            TagSpecifications=self.tag_specs(ctx),
        )["TransitGatewayVpcAttachment"]
        return self.settle(ctx, self.live(ctx, attachment))

    def settle(self, ctx: RunContext, have: Live) -> Live:
        wait_for(
            ctx,
            key=self.key,
            what=f"Transit Gateway attachment {have.id}",
            read_state=lambda: _attachment_state(ctx, have.id),
            done={"available"},
            failed={"failed", "rejected", "deleted", "deleting", None},
            timeout=600.0,
            expected=self.create_seconds,
        )
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        ec2_call(
            ctx, have.key, "delete_transit_gateway_vpc_attachment", missing_ok=True, TransitGatewayAttachmentId=have.id
        )
        wait_for(
            ctx,
            key=have.key,
            what=f"Transit Gateway attachment {have.id} deletion",
            read_state=lambda: _attachment_state(ctx, have.id),
            done={"deleted", None},
            timeout=600.0,
            expected=cls.delete_seconds,
        )


def _attachment_state(ctx: RunContext, attachment_id: str) -> str | None:
    try:
        found = ctx.aws.poller("ec2").describe_transit_gateway_vpc_attachments(
            TransitGatewayAttachmentIds=[attachment_id]
        )["TransitGatewayVpcAttachments"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return found[0]["State"] if found else None


@dataclass(kw_only=True)
class TransitRouting(Resource):
    attachment: str
    segment: str  # the route table it is associated with
    propagate_to: tuple[str, ...]  # the route tables it propagates its VPC's CIDR into
    owner_account: str | None = None  # the gateway owner's account; None: the run's own

    type = "ec2:transit-gateway-routing"
    iam_actions = (
        "ec2:DescribeTransitGatewayRouteTables",
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:GetTransitGatewayAttachmentPropagations",
        "ec2:AssociateTransitGatewayRouteTable",
        "ec2:DisassociateTransitGatewayRouteTable",
        "ec2:EnableTransitGatewayRouteTablePropagation",
        "ec2:DisableTransitGatewayRouteTablePropagation",
        "sts:AssumeRole",
    )
    create_seconds = 5.0  # est: associating takes a few seconds
    delete_seconds = 5.0  # est
    replace_on = frozenset({"attachment_id"})
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = [n for n in ctx.nodes.values() if isinstance(n, cls)]
        if not nodes:
            return []
        attachments = {live.key: live.id for live in ctx.live(TransitAttachment)}
        lives = []
        for node in nodes:
            attachment_id = attachments.get(node.attachment)
            if attachment_id is None:
                continue
            session = owner_session(ctx, node.owner_account)
            ec2 = session.client("ec2", purpose="poll")
            tables = discovered_route_tables(ctx, node.owner_account)
            segment_of = {table_id: segment for segment, table_id in segment_tables(session, tables).items()}
            # Two reads per attachment, in the owner's account: its association (with the
            # attachment) and the tables it propagates into.
            found = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[attachment_id])[
                "TransitGatewayAttachments"
            ]
            associated = (found[0].get("Association") or {}) if found else {}
            association = (
                segment_of.get(associated.get("TransitGatewayRouteTableId", ""))
                if associated.get("State") in ("associated", "associating")
                else None
            )
            propagated = ec2.get_transit_gateway_attachment_propagations(TransitGatewayAttachmentId=attachment_id)[
                "TransitGatewayAttachmentPropagations"
            ]
            propagations = sorted(
                segment_of[p["TransitGatewayRouteTableId"]]
                for p in propagated
                if p.get("State") in ("enabled", "enabling") and p["TransitGatewayRouteTableId"] in segment_of
            )
            if association is None and not propagations:
                continue
            lives.append(
                Live(
                    key=node.key,
                    id=attachment_id,
                    fields=cls.observe(
                        {
                            "TransitGatewayAttachmentId": attachment_id,
                            "AssociatedSegment": association,
                            "PropagatedSegments": propagations,
                        }
                    ),
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the attachment, the segment whose route table it is associated with (None)
        and those it propagates into, as read in the gateway owner's account."""
        return {
            "attachment_id": item["TransitGatewayAttachmentId"],
            "association": item["AssociatedSegment"],
            "propagations": sorted(item["PropagatedSegments"]),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "attachment_id": refs.id(self.attachment),
            "association": self.segment,
            "propagations": sorted(self.propagate_to),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        live = Live(
            key=self.key,
            id=want["attachment_id"],
            fields={"attachment_id": want["attachment_id"], "association": None, "propagations": []},
        )
        return self.update(ctx, want, live, {"association": {}, "propagations": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        session = owner_session(ctx, self.owner_account)
        tables = segment_tables(session)
        missing = [s for s in {want["association"], *want["propagations"]} if s not in tables]
        if missing:
            raise PermanentError(
                f"the shared plan's Transit Gateway has no route table {', '.join(sorted(missing))}",
                key=self.key,
                code="TransitRouteTableNotFound",
                hint="apply the shared plan",
            )
        ec2 = session.client("ec2")
        attachment_id = want["attachment_id"]

        def call(operation: str, table: str, missing_ok: bool = False) -> None:
            try:
                getattr(ec2, operation)(
                    TransitGatewayRouteTableId=tables[table], TransitGatewayAttachmentId=attachment_id
                )
            except ClientError as exc:
                if not (missing_ok and (is_not_found(exc) or "NotFound" in str(exc))):
                    raise as_provisioner_error(exc, key=self.key) from exc

        if have.fields.get("association") != want["association"]:
            if have.fields.get("association") in tables:
                call("disassociate_transit_gateway_route_table", have.fields["association"], missing_ok=True)
            call("associate_transit_gateway_route_table", want["association"])
        current = set(have.fields.get("propagations") or [])
        for segment in sorted(set(want["propagations"]) - current):
            call("enable_transit_gateway_route_table_propagation", segment)
        for segment in sorted(current - set(want["propagations"])):
            if segment in tables:
                call("disable_transit_gateway_route_table_propagation", segment, missing_ok=True)
        have.fields.update({"association": want["association"], "propagations": list(want["propagations"])})
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        node = ctx.nodes.get(have.key)
        session = owner_session(ctx, getattr(node, "owner_account", None))
        tables = segment_tables(session)
        ec2 = session.client("ec2")
        steps = [("disable_transit_gateway_route_table_propagation", s) for s in have.fields.get("propagations") or []]
        if have.fields.get("association"):
            steps.append(("disassociate_transit_gateway_route_table", have.fields["association"]))
        for operation, segment in steps:
            if segment not in tables:
                continue
            try:
                getattr(ec2, operation)(TransitGatewayRouteTableId=tables[segment], TransitGatewayAttachmentId=have.id)
            except ClientError as exc:
                if not (is_not_found(exc) or "NotFound" in str(exc)):
                    raise as_provisioner_error(exc, key=have.key) from exc
