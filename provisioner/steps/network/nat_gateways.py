"""ec2:nat-gateway: one per public subnet, each with its own EIP (the seed: one per AZ).

- Create passes a ClientToken derived from plan and key, so a create retried after a crash
  returns the gateway AWS already made. A gateway that later failed or was deleted spent its
  token; the token is salted with the ids of those dead gateways so a re-create is new.
- `pending` lasts about 105 s (latency-model.md); apply waits for `available`, also for a
  gateway found pending after an interrupted run, because routes to it come next.
- Delete waits for `deleted`: only then does AWS free the EIP and the subnet's ENI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_plan_ec2
from provisioner.aws.tags import from_list, key_of
from provisioner.aws.waiters import age, since, wait_for
from provisioner.constants import idempotency_token
from provisioner.engine import Live, Refs, RunContext
from provisioner.steps.common.ec2 import Ec2Resource, ec2_call

CREATE_TIMEOUT = 600.0  # p95 180 s, with margin
DELETE_TIMEOUT = 300.0  # p95 90 s


@dataclass(kw_only=True)
class NatGateway(Ec2Resource):
    subnet: str
    eip: str

    type = "ec2:nat-gateway"
    iam_actions = (
        "ec2:DescribeNatGateways",
        "ec2:CreateNatGateway",
        "ec2:DeleteNatGateway",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    )
    create_seconds = 105.0
    delete_seconds = 60.0
    replace_on = frozenset({"subnet_id", "allocation_id"})
    describe_operation = "describe_nat_gateways"
    result_key = "NatGateways"
    id_field = "NatGatewayId"
    tag_resource_type = "natgateway"
    state_field = "State"
    gone_states = frozenset({"deleted", "deleting", "failed"})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        addresses = item.get("NatGatewayAddresses") or [{}]
        return {"subnet_id": item.get("SubnetId"), "allocation_id": addresses[0].get("AllocationId")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"subnet_id": refs.id(self.subnet), "allocation_id": refs.id(self.eip)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        dead = sorted(
            item["NatGatewayId"]
            for item in describe_plan_ec2(ctx, self.describe_operation, self.result_key)
            if item.get("State") in ("deleted", "failed") and key_of(from_list(item.get("Tags"))) == self.key
        )
        token = idempotency_token(ctx.plan_name, self.key, want["allocation_id"], *dead)
        gateway = ec2_call(
            ctx,
            self.key,
            "create_nat_gateway",
            SubnetId=want["subnet_id"],
            AllocationId=want["allocation_id"],
            ConnectivityType="public",
            ClientToken=token,
            TagSpecifications=self.tag_specs(ctx),
        )["NatGateway"]
        return self.settle(ctx, self.live(ctx, gateway))

    def settle(self, ctx: RunContext, have: Live) -> Live:
        poller = ctx.aws.poller("ec2")

        def state() -> str | None:
            found = poller.describe_nat_gateways(NatGatewayIds=[have.id])["NatGateways"]
            return found[0]["State"] if found else None

        def failure() -> str:
            found = poller.describe_nat_gateways(NatGatewayIds=[have.id])["NatGateways"]
            return found[0].get("FailureMessage", "") if found else ""

        wait_for(
            ctx,
            key=self.key,
            what=f"NAT gateway {have.id}",
            read_state=state,
            done={"available"},
            failed={"failed", "deleted", "deleting"},
            timeout=CREATE_TIMEOUT,
            describe_failure=failure,
            expected=self.create_seconds,
            already=age((have.raw or {}).get("CreateTime")),
        )  # a NAT gateway only settles after its create
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        requested = ctx.clock.now() if ctx.clock else 0.0
        ec2_call(ctx, have.key, "delete_nat_gateway", missing_ok=True, NatGatewayId=have.id)
        poller = ctx.aws.poller("ec2")

        def state() -> str | None:
            try:
                found = poller.describe_nat_gateways(NatGatewayIds=[have.id])["NatGateways"]
            except Exception as exc:  # gone from the API entirely
                if "NotFound" in str(exc):
                    return None
                raise
            return found[0]["State"] if found else None

        wait_for(
            ctx,
            key=have.key,
            what=f"NAT gateway {have.id} deletion",
            read_state=state,
            done={"deleted", None},
            timeout=DELETE_TIMEOUT,
            expected=cls.delete_seconds,
            already=since(ctx, requested),
        )
