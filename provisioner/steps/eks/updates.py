"""What the EKS kinds share: the call wrapper, creation tokens bound to a cluster, and the
wait for an update (UpdateClusterConfig/Version, node group and add-on updates), with the
updates' expected durations."""

from __future__ import annotations

from typing import Any

from provisioner.aws.calls import call
from provisioner.aws.waiters import wait_for
from provisioner.constants import idempotency_token
from provisioner.engine import RunContext

UPDATE_TIMEOUT = 3600.0  # a version update takes tens of minutes
# p50 of the updates a wait follows (latency-model.md has no rows for updates: est, the same
# figures the sandbox plays), so `wait_for_update` polls on the guided schedule.
CONFIG_UPDATE_SECONDS = 240.0  # est: endpoint access, logging, access config, VPC config, support
VERSION_UPDATE_SECONDS = 480.0  # est: one minor version of the control plane
NODEGROUP_UPDATE_SECONDS = 300.0  # est: a rolling update of a small group (config or version)
ADDON_UPDATE_SECONDS = 15.0  # est


def eks_call(ctx: RunContext, key: str, operation: str, **params: Any) -> dict[str, Any]:
    return call(ctx, "eks", operation, key=key, **params)


def cluster_token(ctx: RunContext, cluster: str, key: str, *salt: str) -> str:
    """EKS's clientRequestToken for a create inside a cluster: plan, key and the cluster's
    incarnation (its endpoint, new for every cluster EKS makes) with what defines the
    resource, so a retried create is the same request and a cluster made again is not."""
    return idempotency_token(ctx.plan_name, key, str(ctx.refs.get(cluster, "endpoint")), *salt)


def wait_for_update(ctx: RunContext, key: str, cluster: str, update_id: str, *, expected: float, **scope: str) -> None:
    """Poll DescribeUpdate until the update succeeds (scope: nodegroupName= or addonName=);
    `expected` is the update's p50 in seconds, which guides the polls (aws/waiters.py)."""
    poller = ctx.aws.poller("eks")

    def state() -> str:
        return poller.describe_update(name=cluster, updateId=update_id, **scope)["update"]["status"]

    def errors() -> str:
        update = poller.describe_update(name=cluster, updateId=update_id, **scope)["update"]
        return "; ".join(f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in update.get("errors", []))

    wait_for(
        ctx,
        key=key,
        what=f"update {update_id}",
        read_state=state,
        done={"Successful"},
        failed={"Failed", "Cancelled"},
        timeout=UPDATE_TIMEOUT,
        describe_failure=errors,
        expected=expected,
    )
