"""ec2:default-security-group: the VPC's default security group, stripped of every rule.

AWS makes the default group with the VPC and will not delete it, so this node never
creates or deletes anything: "create" tags the group and revokes its rules (it allows all
traffic between members and all egress when new, CIS/FSBP EC2.2), and a rule added back by
hand shows as an update. It goes away with its VPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.engine import Live, PermanentError, Refs, RunContext
from provisioner.steps.network._ec2 import Ec2Resource, ec2_call


@dataclass(kw_only=True)
class DefaultSecurityGroup(Ec2Resource):
    vpc: str

    type = "ec2:default-security-group"
    create_seconds = 1.0
    delete_seconds = 0.0
    describe_operation = "describe_security_groups"
    result_key = "SecurityGroups"
    id_field = "GroupId"
    tag_resource_type = "security-group"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
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
            ec2_call(ctx, self.key, "revoke_security_group_ingress", GroupId=have.id, IpPermissions=_clean(raw["IpPermissions"]))
        if raw.get("IpPermissionsEgress"):
            ec2_call(ctx, self.key, "revoke_security_group_egress", GroupId=have.id, IpPermissions=_clean(raw["IpPermissionsEgress"]))
        have.fields.update(ingress_rules=0, egress_rules=0)
        if any(f.startswith("tags.") for f in diff):
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
