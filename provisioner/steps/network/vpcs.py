"""ec2:vpc: the environment's VPC, with DNS support and DNS hostnames on (EKS needs both).

DNS attributes are not in DescribeVpcs; they take one DescribeVpcAttribute call each, which
discovery makes only for the plan's own VPC. Changing the CIDR replaces the VPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.blockers import find_blockers, format_blockers, goes_by_itself
from provisioner.aws.controllers import cluster_tag
from provisioner.constants import cluster_name
from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, delete_in_use, ec2_call


@dataclass(kw_only=True)
class Vpc(Ec2Resource):
    cidr: str

    type = "ec2:vpc"
    iam_actions = (
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:CreateVpc",
        "ec2:ModifyVpcAttribute",
        "ec2:DeleteVpc",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    replace_on = frozenset({"cidr"})
    guarded = True

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        return "everything in the VPC (subnets, cluster, database, load balancers) goes with it"

    describe_operation = "describe_vpcs"
    result_key = "Vpcs"
    id_field = "VpcId"
    tag_resource_type = "vpc"

    @classmethod
    def enrich(cls, ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
        # DescribeVpcs carries neither DNS attribute: one DescribeVpcAttribute each.
        ec2 = ctx.aws.client("ec2")
        item = dict(item)  # the describe is shared with other kinds (describe_plan_ec2)
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            answer = ec2.describe_vpc_attribute(VpcId=item["VpcId"], Attribute=attribute)
            name = attribute[0].upper() + attribute[1:]
            item[name] = answer[name]
        return item

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeVpcs' VPC with its DNS attributes (`EnableDnsSupport`,
        `EnableDnsHostnames`: DescribeVpcAttribute's answers); absent ones (CreateVpc's answer)
        count as off, so a create sets both."""
        return {
            "cidr": item["CidrBlock"],
            "dns_support": (item.get("EnableDnsSupport") or {}).get("Value", False),
            "dns_hostnames": (item.get("EnableDnsHostnames") or {}).get("Value", False),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"cidr": self.cidr, "dns_support": True, "dns_hostnames": True}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        vpc = ec2_call(ctx, self.key, "create_vpc", CidrBlock=self.cidr, TagSpecifications=self.tag_specs(ctx))["Vpc"]
        live = self.live(ctx, vpc)  # CreateVpc's answer has no DNS attributes: both are set below
        return self.update(ctx, want, live, {"dns_support": {}, "dns_hostnames": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        # One attribute per ModifyVpcAttribute call; support must be on before hostnames.
        for field, attribute in (("dns_support", "EnableDnsSupport"), ("dns_hostnames", "EnableDnsHostnames")):
            if field in diff:
                value: dict[str, Any] = {attribute: {"Value": want[field]}}
                ec2_call(ctx, self.key, "modify_vpc_attribute", VpcId=have.id, **value)
                have.fields[field] = want[field]
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def destroy_blockers(cls, ctx: RunContext, have: Live) -> list[str]:
        """Why this VPC could not be deleted: what is in it that neither the plan nor its
        cluster owns (the destroy leaves those alone), read before anything is deleted."""
        cluster = cluster_name(ctx.plan_name)

        def swept(owner: str) -> bool:  # made for the cluster: the destroy's sweep removes it
            key, _, value = owner.partition("=")
            return bool(value) and cluster_tag({key: value}, cluster) is not None

        stuck = [
            b
            for b in find_blockers(ctx.aws, "vpc", have.id)
            if b.kind != "ec2:subnet" and not goes_by_itself(b, ctx.plan_name, cluster) and not swept(b.owner)
        ]
        return format_blockers(stuck, f"vpc {have.id}").splitlines()[1:] if stuck else []

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        delete_in_use(ctx, have.key, "delete_vpc", "vpc", have.id, VpcId=have.id)
