"""ec2:internet-gateway: created and attached to the VPC in one node.

Create and attach are two calls; a run killed between them leaves a tagged, detached gateway,
which the next plan shows as an update (vpc_id differs) and apply attaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call


@dataclass(kw_only=True)
class InternetGateway(Ec2Resource):
    vpc: str

    type = "ec2:internet-gateway"
    iam_actions = (
        "ec2:DescribeInternetGateways",
        "ec2:CreateInternetGateway",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    describe_operation = "describe_internet_gateways"
    result_key = "InternetGateways"
    id_field = "InternetGatewayId"
    tag_resource_type = "internet-gateway"

    def needs_replacement(self, changed: set[str], have: Live) -> bool:
        # Attached to another (old) VPC: that VPC is being replaced and cannot be deleted
        # while the gateway is attached, so the gateway is replaced with it. Detached (a run
        # killed between create and attach): just attach it.
        return "vpc_id" in changed and have.fields.get("vpc_id") is not None

    def replace_reason(self, changed: set[str], have: Live) -> str:
        return "it is attached to the VPC being replaced, which cannot be deleted while it is"

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        attached = [
            a["VpcId"] for a in item.get("Attachments", []) if a.get("State") in ("attached", "available", "attaching")
        ]
        return {"vpc_id": attached[0] if attached else None}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"vpc_id": refs.id(self.vpc)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        gateway = ec2_call(ctx, self.key, "create_internet_gateway", TagSpecifications=self.tag_specs(ctx))[
            "InternetGateway"
        ]
        live = self.live(ctx, gateway)
        return self.update(ctx, want, live, {"vpc_id": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "vpc_id" in diff:
            if have.fields.get("vpc_id"):
                ec2_call(
                    ctx, self.key, "detach_internet_gateway", InternetGatewayId=have.id, VpcId=have.fields["vpc_id"]
                )
            ec2_call(ctx, self.key, "attach_internet_gateway", InternetGatewayId=have.id, VpcId=want["vpc_id"])
            have.fields["vpc_id"] = want["vpc_id"]
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        if have.fields.get("vpc_id"):
            ec2_call(
                ctx,
                have.key,
                "detach_internet_gateway",
                missing_ok=True,
                InternetGatewayId=have.id,
                VpcId=have.fields["vpc_id"],
            )
        ec2_call(ctx, have.key, "delete_internet_gateway", missing_ok=True, InternetGatewayId=have.id)
