"""Security groups: the VPC's default group stripped of every rule, and the plan's own groups.

ec2:default-security-group: the VPC's default security group, stripped of every rule.

AWS makes the default group with the VPC and will not delete it, so this node never
creates or deletes anything: "create" tags the group and revokes its rules (it allows all
traffic between members and all egress when new, CIS/FSBP EC2.2), and a rule added back by
hand shows as an update. It goes away with its VPC.

ec2:security-group: a named group with exactly the rules the plan lists. A rule's source is
a CIDR, another group's node key (resolved to its id), or "self". Rules are compared as
flattened tuples (protocol, from port, to port, source), so a rule added or removed by hand
shows as an update and is undone; groups the plan's rules reference are dependencies, so
destroy deletes the referencing group first (AWS refuses the other order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.engine import Live, PermanentError, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, delete_in_use, ec2_call

ALL = "-1"


@dataclass(frozen=True)
class Rule:
    """One permission: `source` is a CIDR, a security group node key, or "self"."""

    protocol: str  # "-1" (all), "tcp", "udp", "icmp"
    source: str
    from_port: int | None = None
    to_port: int | None = None

    def resolve(self, refs: Refs) -> list[Any]:
        source: Any = self.source
        if source != "self" and "/" in source and not source[0].isdigit():
            source = refs.id(source)  # a node key such as "eks/node-security-group"
        ports = (None, None) if self.protocol == ALL else (self.from_port, self.to_port)
        return [self.protocol, ports[0], ports[1], source]


EGRESS_ALL = (Rule(ALL, "0.0.0.0/0"),)


@dataclass(kw_only=True)
class DefaultSecurityGroup(Ec2Resource):
    vpc: str

    type = "ec2:default-security-group"
    iam_actions = (
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 1.0
    delete_seconds = 0.0
    describe_operation = "describe_security_groups"
    result_key = "SecurityGroups"
    id_field = "GroupId"
    tag_resource_type = "security-group"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # Shares the plan's one DescribeSecurityGroups call with SecurityGroup.
        return [live for live in super().discover(ctx) if live.raw.get("GroupName") == "default"]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "vpc_id": item["VpcId"],
            "ingress_rules": len(item.get("IpPermissions", [])),
            "egress_rules": len(item.get("IpPermissionsEgress", [])),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"vpc_id": refs.id(self.vpc), "ingress_rules": 0, "egress_rules": 0}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        groups = ctx.aws.client("ec2").describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [want["vpc_id"]]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        if not groups:
            raise PermanentError(f"VPC {want['vpc_id']} has no default security group", key=self.key)
        live = self.live(ctx, groups[0])
        self.set_tags(ctx, live, ctx.tags_for(self))
        live.tags = ctx.tags_for(self)
        return self.update(ctx, want, live, {"ingress_rules": {}, "egress_rules": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "vpc_id" in diff:
            # The plan's VPC was replaced: this tag sits on the old VPC's group. Claim the new one.
            return self.create(ctx, want)
        raw = have.raw or {}
        if raw.get("IpPermissions"):
            ec2_call(
                ctx,
                self.key,
                "revoke_security_group_ingress",
                GroupId=have.id,
                IpPermissions=_clean(raw["IpPermissions"]),
            )
        if raw.get("IpPermissionsEgress"):
            ec2_call(
                ctx,
                self.key,
                "revoke_security_group_egress",
                GroupId=have.id,
                IpPermissions=_clean(raw["IpPermissionsEgress"]),
            )
        have.fields.update(ingress_rules=0, egress_rules=0)
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        """Nothing to delete: AWS removes the default group with its VPC."""


def _clean(permissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Describe output carries fields Revoke does not accept (e.g. empty lists); keep the rule."""
    keep = ("IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
    cleaned = []
    for permission in permissions:
        rule = {k: v for k, v in permission.items() if k in keep and v not in ([], None)}
        if "UserIdGroupPairs" in rule:
            rule["UserIdGroupPairs"] = [{"GroupId": p["GroupId"]} for p in rule["UserIdGroupPairs"] if "GroupId" in p]
        cleaned.append(rule)
    return cleaned


def flatten(item: dict[str, Any], permissions: list[dict[str, Any]]) -> list[list[Any]]:
    """IpPermissions as sorted [protocol, from, to, source] tuples (one per source)."""
    rules = []
    for permission in permissions:
        protocol = str(permission.get("IpProtocol"))
        ports = (None, None) if protocol == ALL else (permission.get("FromPort"), permission.get("ToPort"))
        for ip_range in permission.get("IpRanges", []):
            rules.append([protocol, *ports, ip_range["CidrIp"]])
        for pair in permission.get("UserIdGroupPairs", []):
            rules.append(
                [protocol, *ports, "self" if pair.get("GroupId") == item.get("GroupId") else pair.get("GroupId")]
            )
    return sorted(rules, key=str)


def permission(rule: list[Any], group_id: str) -> dict[str, Any]:
    protocol, low, high, source = rule
    out: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != ALL:
        out.update(FromPort=low, ToPort=high)
    if isinstance(source, str) and "/" in source:
        out["IpRanges"] = [{"CidrIp": source}]
    else:
        out["UserIdGroupPairs"] = [{"GroupId": group_id if source == "self" else source}]
    return out


@dataclass(kw_only=True)
class SecurityGroup(Ec2Resource):
    vpc: str
    name: str
    description: str
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = EGRESS_ALL

    type = "ec2:security-group"
    iam_actions = (
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 1.5
    delete_seconds = 1.5
    # The description is set at creation and never compared: AWS cannot change it, and
    # replacing a group in use (the database's, the nodes') for a wording change would take
    # what uses it down. It shows as information instead.
    replace_on = frozenset({"vpc_id", "name"})
    describe_operation = "describe_security_groups"
    result_key = "SecurityGroups"
    id_field = "GroupId"
    tag_resource_type = "security-group"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        return [live for live in super().discover(ctx) if live.raw.get("GroupName") != "default"]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "vpc_id": item["VpcId"],
            "name": item["GroupName"],
            "ingress": flatten(item, item.get("IpPermissions", [])),
            "egress": flatten(item, item.get("IpPermissionsEgress", [])),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "vpc_id": refs.id(self.vpc),
            "name": self.name,
            "ingress": sorted((r.resolve(refs) for r in self.ingress), key=str),
            "egress": sorted((r.resolve(refs) for r in self.egress), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        group_id = ec2_call(
            ctx,
            self.key,
            "create_security_group",
            GroupName=self.name,
            Description=self.description,
            VpcId=want["vpc_id"],
            TagSpecifications=self.tag_specs(ctx),
        )["GroupId"]
        # A new group allows all egress; start from its real rules and converge.
        item = ctx.aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        live = self.live(ctx, item)
        return self.update(ctx, want, live, {"ingress": {}, "egress": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        for direction, field_name in (("ingress", "ingress"), ("egress", "egress")):
            if field_name not in diff:
                continue
            current, wanted = have.fields.get(field_name) or [], want[field_name]
            add = [r for r in wanted if r not in current]
            remove = [r for r in current if r not in wanted]
            if add:
                ec2_call(
                    ctx,
                    self.key,
                    f"authorize_security_group_{direction}",
                    GroupId=have.id,
                    IpPermissions=[permission(r, have.id) for r in add],
                )
            if remove:
                ec2_call(
                    ctx,
                    self.key,
                    f"revoke_security_group_{direction}",
                    missing_ok=True,
                    GroupId=have.id,
                    IpPermissions=[permission(r, have.id) for r in remove],
                )
            have.fields[field_name] = wanted
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        # DependencyViolation (an ENI still uses the group, another group references it) is
        # waited for while it clears by itself; a foreign user of the group stops the step.
        delete_in_use(ctx, have.key, "delete_security_group", "security-group", have.id, GroupId=have.id)
