"""Waits that end on time at their call sites (issue 17 item 6): EKS updates, RDS modifications
and the deletes of the critical path pass their p50 to the poller, so each ends within about a
second of the state change and reads less often than the plain back-off.

Each call site runs against a fake AWS whose resource changes state exactly at that p50 on
an injected clock (no real sleeps); the plain back-off's reads for the same change come from
the poller itself with no `expected`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.aws.waiters import wait_for
from provisioner.engine import Live, RunContext
from provisioner.planfile import load_plan
from provisioner.steps import build
from provisioner.steps.eks import addons, clusters, nodegroups, updates
from provisioner.steps.network.nat_gateways import NatGateway
from provisioner.steps.rds import instances
from tests.aws.test_waiters import Events, FakeClock
from tests.conftest import PLANS

DEV = load_plan("dev", PLANS)


def gone(operation: str, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not found"}}, operation)


class FakeApi:
    """A client and poller in one: `describe(operation, **params)` answers the reads,
    everything else (the mutating call) answers `writes.get(operation, {})`."""

    def __init__(self, describe: Callable[..., Any], writes: dict[str, Any] | None = None) -> None:
        self.describe, self.writes, self.reads = describe, writes or {}, 0

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            if operation.startswith("describe_"):
                self.reads += 1
                return self.describe(operation, **params)
            return self.writes.get(operation, {})

        return call


class FakeAws:
    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def client(self, service: str, region: str | None = None) -> FakeApi:
        return self.api

    def poller(self, service: str, region: str | None = None) -> FakeApi:
        return self.api


def run_until(p50: float, describe: Callable[[FakeClock, bool], Any], act: Callable[[RunContext], Any], **writes: Any):
    """Run `act` against a resource whose state changes at `p50` s; return (reads, lateness)."""
    clock = FakeClock()
    api = FakeApi(lambda operation, **params: describe(clock, clock.t >= p50), writes)
    ctx = RunContext(plan=DEV, aws=FakeAws(api), clock=clock, reporter=Events(), dry_run=False, poll_scale=1.0)  # type: ignore[arg-type]
    act(ctx)
    return api.reads, clock.t - p50


def plain_reads(p50: float) -> int:
    """What the plain back-off (no `expected`) reads for a change at `p50` s."""
    clock = FakeClock()
    reads = []

    def state() -> str:
        reads.append(clock.t)
        return "done" if clock.t >= p50 else "pending"

    ctx = RunContext(plan=DEV, aws=None, clock=clock, reporter=Events(), poll_scale=1.0)  # type: ignore[arg-type]
    wait_for(ctx, key="k", what="plain", read_state=state, done={"done"}, timeout=7200)
    return len(reads)


def node(type_: str, name: str | None = None) -> Any:
    return next(n for n in build(DEV) if n.type == type_ and (name is None or n.key.endswith(name)))


def update_status(clock: FakeClock, done: bool) -> dict[str, Any]:
    return {"update": {"id": "u-1", "status": "Successful" if done else "InProgress", "errors": []}}


def assert_on_time(p50: float, reads: int, late: float) -> None:
    """Within a second of the change; fewer reads than the plain back-off, or as many for a
    wait of a few seconds (the back-off has barely left its 1 s start by then)."""
    assert 0 <= late <= 1.0, f"ended {late:.1f} s after the change"
    plain = plain_reads(p50)
    assert reads < plain or (p50 < 30 and reads <= plain), f"{reads} reads, the plain back-off makes {plain}"


# ------------------------------------------------------------------------------ EKS updates
def test_cluster_config_update_wait_ends_on_time_with_fewer_reads() -> None:
    cluster = node("eks:cluster")
    have = Live(key=cluster.key, id=cluster.name, fields={"log_types": []}, raw={"status": "ACTIVE"})
    want = {"log_types": ["api", "audit"]}
    reads, late = run_until(
        updates.CONFIG_UPDATE_SECONDS,
        update_status,
        lambda ctx: cluster.update(ctx, want, have, {"log_types": {"from": [], "to": want["log_types"]}}),
        update_cluster_config={"update": {"id": "u-1"}},
    )
    assert_on_time(updates.CONFIG_UPDATE_SECONDS, reads, late)


def test_cluster_version_update_wait_ends_on_time_with_fewer_reads() -> None:
    cluster = node("eks:cluster")
    major, minor = (int(p) for p in cluster.version.split("."))
    have = Live(key=cluster.key, id=cluster.name, fields={"version": f"{major}.{minor - 1}"}, raw={"status": "ACTIVE"})
    reads, late = run_until(
        updates.VERSION_UPDATE_SECONDS,
        update_status,
        lambda ctx: cluster._upgrade(ctx, have, cluster.version),
        update_cluster_version={"update": {"id": "u-1"}},
        list_nodegroups={"nodegroups": []},
    )
    assert_on_time(updates.VERSION_UPDATE_SECONDS, reads, late)


def test_node_group_update_wait_ends_on_time_with_fewer_reads() -> None:
    group = node("eks:nodegroup")
    have = Live(key=group.key, id=f"dev-eks/{group.name}", raw={"status": "ACTIVE"})
    reads, late = run_until(
        updates.NODEGROUP_UPDATE_SECONDS,
        update_status,
        lambda ctx: group.update(ctx, {"scaling": (1, 2, 3)}, have, {"scaling": {}}),
        update_nodegroup_config={"update": {"id": "u-1"}},
    )
    assert_on_time(updates.NODEGROUP_UPDATE_SECONDS, reads, late)


def test_addon_update_wait_ends_on_time_with_fewer_reads() -> None:
    addon = node("eks:addon", "vpc-cni")
    have = Live(key=addon.key, id=f"dev-eks/{addon.name}", raw={"status": "ACTIVE"})
    want = {"version": "v1.0.0-eksbuild.1", "service_account_role_arn": None}
    reads, late = run_until(
        updates.ADDON_UPDATE_SECONDS,
        update_status,
        lambda ctx: addon.update(ctx, want, have, {"version": {}}),
        update_addon={"update": {"id": "u-1"}},
    )
    assert_on_time(updates.ADDON_UPDATE_SECONDS, reads, late)


# --------------------------------------------------------------------------- RDS modification
def test_db_instance_found_modifying_wait_ends_on_time_with_fewer_reads() -> None:
    db = node("rds:db-instance")
    have = Live(key=db.key, id=db.identifier, raw={"DBInstanceStatus": "modifying"})

    def describe(clock: FakeClock, done: bool) -> dict[str, Any]:
        status = "available" if done else "modifying"
        return {"DBInstances": [{"DBInstanceIdentifier": db.identifier, "DBInstanceStatus": status}]}

    reads, late = run_until(instances.MODIFY_SECONDS, describe, lambda ctx: db.settle(ctx, have))
    assert_on_time(instances.MODIFY_SECONDS, reads, late)


# ----------------------------------------------------------------------------------- deletes
def _eks_delete(field: str, status: str) -> Callable[[FakeClock, bool], Any]:
    def describe(clock: FakeClock, done: bool) -> Any:
        if done:
            raise gone("Describe", "ResourceNotFoundException")
        return {field: {"status": status}}

    return describe


def _rds_delete(clock: FakeClock, done: bool) -> Any:
    if done:
        raise gone("DescribeDBInstances", "DBInstanceNotFound")
    return {"DBInstances": [{"DBInstanceStatus": "deleting"}]}


def _nat_delete(clock: FakeClock, done: bool) -> Any:
    return {"NatGateways": [{"State": "deleted" if done else "deleting"}]}


@pytest.mark.parametrize(
    ("kind", "type_", "live_id", "describe"),
    [
        (clusters.Cluster, "eks:cluster", "dev-eks", _eks_delete("cluster", "DELETING")),
        (nodegroups.Nodegroup, "eks:nodegroup", "dev-eks/system", _eks_delete("nodegroup", "DELETING")),
        (addons.Addon, "eks:addon", "dev-eks/vpc-cni", _eks_delete("addon", "DELETING")),
        (instances.DbInstance, "rds:db-instance", "dev-db", _rds_delete),
        (NatGateway, "ec2:nat-gateway", "nat-0123", _nat_delete),
    ],
    ids=["cluster", "nodegroup", "addon", "db-instance", "nat-gateway"],
)
def test_delete_wait_ends_on_time_with_fewer_reads(kind: Any, type_: str, live_id: str, describe: Any) -> None:
    have = Live(key=node(type_).key, id=live_id, raw={})
    reads, late = run_until(kind.delete_seconds, describe, lambda ctx: kind.delete(ctx, have))
    assert_on_time(kind.delete_seconds, reads, late)
