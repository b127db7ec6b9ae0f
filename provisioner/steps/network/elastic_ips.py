"""ec2:eip: one Elastic IP per NAT gateway, tagged at allocation.

AllocateAddress takes no client token, but it takes TagSpecifications: the address is born
tagged, so a run killed right after allocating finds and reuses it instead of leaking it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.engine import Live, PermanentError, Refs, RunContext, TemporaryError
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call


@dataclass(kw_only=True)
class ElasticIp(Ec2Resource):
    type = "ec2:eip"
    iam_actions = (
        "ec2:DescribeAddresses",
        "ec2:AllocateAddress",
        "ec2:ReleaseAddress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    describe_operation = "describe_addresses"
    result_key = "Addresses"
    id_field = "AllocationId"
    tag_resource_type = "elastic-ip"

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"domain": item.get("Domain", "vpc")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"domain": "vpc"}

    def outputs(self, live: Live) -> dict[str, Any]:
        return {"id": live.id, "public_ip": (live.raw or {}).get("PublicIp")}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        answer = ec2_call(ctx, self.key, "allocate_address", Domain="vpc", TagSpecifications=self.tag_specs(ctx))
        return self.live(ctx, answer)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ec2_call(ctx, have.key, "release_address", missing_ok=True, AllocationId=have.id)
        except PermanentError as exc:
            # AWS refuses to release an address a NAT gateway still holds (it frees it only
            # once the gateway is `deleted`): wait and retry rather than fail.
            if exc.code in ("InvalidIPAddress.InUse", "AuthFailure"):
                raise TemporaryError(exc.message, key=have.key, code=exc.code, delay=5) from exc
            raise
