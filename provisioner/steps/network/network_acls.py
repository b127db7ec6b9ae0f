"""ec2:network-acl: one NACL for the public tier and one for the private tier.

The seed asks for NACLs that allow all traffic between subnets inside the VPC and can be
tightened later. NACLs are stateless, so besides the VPC-internal rule each tier admits the
return traffic of its outbound connections (ephemeral ports 1024-65535 but 3389) and the public tier
admits HTTP/HTTPS for load balancers. Outbound is open; security groups do the fine work.

A subnet is always associated with exactly one NACL, so associations are never deleted,
only replaced (ReplaceNetworkAclAssociation); deleting our NACL first hands its subnets
back to the VPC's default NACL.

ec2:default-network-acl: the VPC's default NACL, stripped of its allow entries (like the
default security group). AWS makes it with the VPC, allowing all traffic in and out (rules
100, and 101 for IPv6), and will not delete it; it serves no subnet of the plan, but it is
what a subnet falls back to when its association is removed, and FSBP EC2.21 lists it. Its
`*` deny entries (32767) cannot be removed. It goes away with its VPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.constants import idempotency_token
from provisioner.engine import Live, PermanentError, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call

ANY = "0.0.0.0/0"
# (rule number, egress, protocol, cidr, from port, to port); action is always allow.
PROTOCOL_ALL, TCP, UDP = "-1", "6", "17"


def tier_entries(tier: str, vpc_cidr: str) -> list[list[Any]]:
    entries = [
        [100, False, PROTOCOL_ALL, vpc_cidr, None, None],
        [100, True, PROTOCOL_ALL, ANY, None, None],
    ]
    if tier == "public":
        entries += [
            [110, False, TCP, ANY, 80, 80],
            [120, False, TCP, ANY, 443, 443],
            *_return_traffic(130, TCP),
            *_return_traffic(140, UDP),
        ]
    else:
        entries += [*_return_traffic(110, TCP), *_return_traffic(120, UDP)]
    return sorted(entries, key=lambda e: (e[1], e[0]))


def _return_traffic(number: int, protocol: str) -> list[list[Any]]:
    """Ephemeral ports from anywhere, except 3389: FSBP EC2.21 flags a NACL that admits
    0.0.0.0/0 to 22 or 3389, and no client picks 3389 as its source port (Linux uses
    32768-60999), so the range is split around it."""
    return [[number, False, protocol, ANY, 1024, 3388], [number + 1, False, protocol, ANY, 3390, 65535]]


@dataclass(kw_only=True)
class NetworkAcl(Ec2Resource):
    vpc: str
    vpc_cidr: str
    tier: str
    subnets: tuple[str, ...] = ()
    # More inbound allow entries, as tier_entries writes them (the shared VPC's CIDR to the
    # cluster API over the Transit Gateway: steps/transit.py).
    extra_entries: tuple[tuple[Any, ...], ...] = ()

    type = "ec2:network-acl"
    iam_actions = (
        "ec2:DescribeNetworkAcls",
        "ec2:CreateNetworkAcl",
        "ec2:CreateNetworkAclEntry",
        "ec2:ReplaceNetworkAclEntry",
        "ec2:DeleteNetworkAclEntry",
        "ec2:ReplaceNetworkAclAssociation",
        "ec2:DeleteNetworkAcl",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    replace_on = frozenset({"vpc_id"})
    describe_operation = "describe_network_acls"
    result_key = "NetworkAcls"
    id_field = "NetworkAclId"
    tag_resource_type = "network-acl"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # The VPC's default NACL carries the plan's tags too (DefaultNetworkAcl): not ours to delete.
        return [live for live in super().discover(ctx) if not (live.raw or {}).get("IsDefault")]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        entries = []
        for entry in item.get("Entries", []):
            if entry["RuleNumber"] >= 32767 or entry.get("RuleAction") != "allow":
                continue
            ports = entry.get("PortRange") or {}
            protocol = str(entry["Protocol"])
            entries.append(
                [
                    entry["RuleNumber"],
                    bool(entry["Egress"]),
                    protocol,
                    entry.get("CidrBlock"),
                    ports.get("From") if protocol != PROTOCOL_ALL else None,
                    ports.get("To") if protocol != PROTOCOL_ALL else None,
                ]
            )
        subnets = sorted(a["SubnetId"] for a in item.get("Associations", []))
        return {"vpc_id": item["VpcId"], "entries": sorted(entries, key=lambda e: (e[1], e[0])), "subnets": subnets}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "vpc_id": refs.id(self.vpc),
            "entries": sorted(
                [*tier_entries(self.tier, self.vpc_cidr), *(list(e) for e in self.extra_entries)],
                key=lambda e: (e[1], e[0]),
            ),
            "subnets": sorted((refs.id(s) for s in self.subnets), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        acl = ec2_call(
            ctx,
            self.key,
            "create_network_acl",
            VpcId=want["vpc_id"],
            TagSpecifications=self.tag_specs(ctx),
            # A retried create is the same request; salted with the VPC, so one made
            # again after a destroy is a new one.
            ClientToken=idempotency_token(ctx.plan_name, self.key, want["vpc_id"]),
        )["NetworkAcl"]
        live = self.live(ctx, acl)
        return self.update(ctx, want, live, {"entries": {}, "subnets": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "entries" in diff:
            current = {(e[0], e[1]): e for e in have.fields.get("entries") or []}
            wanted = {(e[0], e[1]): e for e in want["entries"]}
            for (number, egress), entry in wanted.items():
                if current.get((number, egress)) == entry:
                    continue
                operation = "replace_network_acl_entry" if (number, egress) in current else "create_network_acl_entry"
                try:
                    ec2_call(ctx, self.key, operation, NetworkAclId=have.id, **_entry_params(entry))
                except PermanentError as exc:
                    # A create retried with its ClientToken answers with the ACL as first made,
                    # whose entries the earlier attempt may have added already.
                    if exc.code != "NetworkAclEntryAlreadyExists":
                        raise
                    ec2_call(ctx, self.key, "replace_network_acl_entry", NetworkAclId=have.id, **_entry_params(entry))
            for number, egress in set(current) - set(wanted):
                ec2_call(
                    ctx,
                    self.key,
                    "delete_network_acl_entry",
                    missing_ok=True,
                    NetworkAclId=have.id,
                    RuleNumber=number,
                    Egress=egress,
                )
            have.fields["entries"] = want["entries"]
        if "subnets" in diff:
            missing = [s for s in want["subnets"] if s not in (have.fields.get("subnets") or [])]
            if missing:
                for association_id in _associations_of(ctx, missing).values():
                    ec2_call(
                        ctx,
                        self.key,
                        "replace_network_acl_association",
                        AssociationId=association_id,
                        NetworkAclId=have.id,
                    )
            extra = [s for s in have.fields.get("subnets") or [] if s not in want["subnets"]]
            if extra:
                _return_to_default(ctx, self.key, have, extra)
            have.fields["subnets"] = want["subnets"]
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        subnets = have.fields.get("subnets") or []
        if subnets:
            _return_to_default(ctx, have.key, have, subnets)
        ec2_call(ctx, have.key, "delete_network_acl", missing_ok=True, NetworkAclId=have.id)


def _entry_params(entry: list[Any]) -> dict[str, Any]:
    number, egress, protocol, cidr, low, high = entry
    params: dict[str, Any] = {
        "RuleNumber": number,
        "Egress": egress,
        "Protocol": protocol,
        "RuleAction": "allow",
        "CidrBlock": cidr,
    }
    if protocol != PROTOCOL_ALL:
        params["PortRange"] = {"From": low, "To": high}
    return params


def _associations_of(ctx: RunContext, subnets: list[str]) -> dict[str, str]:
    """subnet id -> its current NACL association id (every subnet has exactly one)."""
    acls = ctx.aws.client("ec2").describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnets}])[
        "NetworkAcls"
    ]
    return {
        a["SubnetId"]: a["NetworkAclAssociationId"]
        for acl in acls
        for a in acl.get("Associations", [])
        if a["SubnetId"] in subnets
    }


def _return_to_default(ctx: RunContext, key: str, have: Live, subnets: list[str]) -> None:
    vpc_id = have.fields.get("vpc_id") or (have.raw or {}).get("VpcId")
    defaults = ctx.aws.client("ec2").describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]}]
    )["NetworkAcls"]
    if not defaults:
        return
    for association_id in _associations_of(ctx, subnets).values():
        ec2_call(
            ctx,
            key,
            "replace_network_acl_association",
            missing_ok=True,
            AssociationId=association_id,
            NetworkAclId=defaults[0]["NetworkAclId"],
        )


@dataclass(kw_only=True)
class DefaultNetworkAcl(Ec2Resource):
    vpc: str

    type = "ec2:default-network-acl"
    iam_actions = ("ec2:DescribeNetworkAcls", "ec2:DeleteNetworkAclEntry", "ec2:CreateTags")
    create_seconds = 1.0
    delete_seconds = 0.0
    describe_operation = "describe_network_acls"
    result_key = "NetworkAcls"
    id_field = "NetworkAclId"
    tag_resource_type = "network-acl"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # Shares the plan's one DescribeNetworkAcls call with NetworkAcl.
        return [live for live in super().discover(ctx) if (live.raw or {}).get("IsDefault")]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"vpc_id": item["VpcId"], "allow_entries": len(_allow_entries(item))}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"vpc_id": refs.id(self.vpc), "allow_entries": 0}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        acls = ctx.aws.client("ec2").describe_network_acls(
            Filters=[{"Name": "vpc-id", "Values": [want["vpc_id"]]}, {"Name": "default", "Values": ["true"]}]
        )["NetworkAcls"]
        if not acls:
            raise PermanentError(f"VPC {want['vpc_id']} has no default network ACL", key=self.key)
        live = self.live(ctx, acls[0])
        self.set_tags(ctx, live, ctx.tags_for(self))
        live.tags = ctx.tags_for(self)
        return self.update(ctx, want, live, {"allow_entries": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "vpc_id" in diff:
            # The plan's VPC was replaced: this tag sits on the old VPC's NACL. Claim the new one.
            return self.create(ctx, want)
        for entry in _allow_entries(have.raw or {}):
            ec2_call(
                ctx,
                self.key,
                "delete_network_acl_entry",
                missing_ok=True,
                NetworkAclId=have.id,
                RuleNumber=entry["RuleNumber"],
                Egress=bool(entry["Egress"]),
            )
        have.fields["allow_entries"] = 0
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        """Nothing to delete: AWS removes the default NACL with its VPC."""


def _allow_entries(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The removable allow entries (the `*` rule, 32767, is AWS's and stays)."""
    return [e for e in item.get("Entries", []) if e.get("RuleAction") == "allow" and e["RuleNumber"] < 32767]
