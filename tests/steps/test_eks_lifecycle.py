"""EKS upgrades and day-two convergence (issue 13 items 6 and 7): node groups follow each
control-plane step, the upgrade policy is explicit, the control-plane log group has the plan's
retention, and a cluster found UPDATING converges in one apply."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from provisioner.engine import Action, RunContext, Runner
from provisioner.planfile import load_plan
from provisioner.sandbox.eks import models as eks_models
from provisioner.steps import build, eks
from tests.conftest import PLANS
from tests.idempotency import runner, subgraph

DEV = load_plan("dev", PLANS)


def with_eks(plan: Any = DEV, **changes: object) -> Any:
    spec = plan.spec
    return dataclasses.replace(plan, spec=spec.model_copy(update={"eks": spec.eks.model_copy(update=changes)}))


def eks_nodes(plan: Any) -> list[Any]:
    return subgraph(build(plan), lambda n: n.key.startswith("eks/"))


def changes(plan: Any, session: Any) -> dict[str, Any]:
    return {c.key: c for c in runner(plan, session, eks_nodes(plan)).plan().changes if c.action is not Action.NOOP}


def apply_ok(plan: Any, session: Any, clock: Any = None) -> None:
    result = Runner(RunContext(plan=plan, aws=session, clock=clock), eks_nodes(plan)).apply()
    assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]


def test_upgrade_over_two_minor_versions_moves_the_node_group_after_each_step(session_for, boto) -> None:
    old = with_eks(version="1.33")
    apply_ok(old, session_for())
    new = with_eks(version="1.35")
    found = changes(new, session_for())
    assert found[eks.CLUSTER].diff["version"] == {"from": "1.33", "to": "1.35"}
    assert found[eks.NODEGROUP].diff["version"] == {"from": "1.33", "to": "1.35"}
    apply_ok(new, session_for())  # EKS refuses 1.34 -> 1.35 while the group is still on 1.33
    client = boto("eks")
    assert client.describe_cluster(name="dev-eks")["cluster"]["version"] == "1.35"
    assert client.describe_nodegroup(clusterName="dev-eks", nodegroupName="system")["nodegroup"]["version"] == "1.35"
    assert not runner(new, session_for(), eks_nodes(new)).plan().has_changes


def test_node_group_left_behind_is_brought_to_the_cluster_version(session_for, boto) -> None:
    apply_ok(with_eks(version="1.34"), session_for())
    client = boto("eks")
    # Someone upgrades the control plane by hand and forgets the node group.
    client.update_cluster_version(name="dev-eks", version="1.35")
    plan = with_eks(version="1.35")
    assert set(changes(plan, session_for())[eks.NODEGROUP].diff) == {"version"}
    apply_ok(plan, session_for())
    assert client.describe_nodegroup(clusterName="dev-eks", nodegroupName="system")["nodegroup"]["version"] == "1.35"
    assert not runner(plan, session_for(), eks_nodes(plan)).plan().has_changes


def test_upgrade_policy_is_standard_unless_the_plan_asks_and_drift_is_corrected(session_for, boto) -> None:
    apply_ok(DEV, session_for())
    client = boto("eks")
    assert client.describe_cluster(name="dev-eks")["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}
    client.update_cluster_config(name="dev-eks", upgradePolicy={"supportType": "EXTENDED"})
    assert changes(DEV, session_for())[eks.CLUSTER].diff == {"support_type": {"from": "EXTENDED", "to": "STANDARD"}}
    apply_ok(DEV, session_for())
    assert client.describe_cluster(name="dev-eks")["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}
    extended = with_eks(support_type="EXTENDED")
    apply_ok(extended, session_for())
    assert client.describe_cluster(name="dev-eks")["cluster"]["upgradePolicy"] == {"supportType": "EXTENDED"}
    assert not runner(extended, session_for(), eks_nodes(extended)).plan().has_changes


def test_control_plane_log_group_is_made_first_with_the_plans_retention(session_for, boto) -> None:
    plan = with_eks(log_retention_days=30)
    apply_ok(plan, session_for())
    logs = boto("logs")
    (group,) = [g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/eks/dev-eks/")["logGroups"]]
    assert group["logGroupName"] == "/aws/eks/dev-eks/cluster" and group["retentionInDays"] == 30
    tags = logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"]
    assert tags["provisioner:plan"] == "dev" and tags["provisioner:key"] == eks.LOG_GROUP
    assert eks.LOG_GROUP in next(n for n in eks_nodes(plan) if n.key == eks.CLUSTER).depends_on
    # Destroy removes it, after the cluster (EKS would make it again otherwise).
    assert runner(plan, session_for(), eks_nodes(plan)).destroy().status == "ok"
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/eks/dev-eks/")["logGroups"] == []


def test_log_group_eks_made_for_the_cluster_is_adopted_with_retention(session_for, boto) -> None:
    logs = boto("logs")
    logs.create_log_group(logGroupName="/aws/eks/dev-eks/cluster")  # as EKS makes it: no tags, no retention
    plan = with_eks(log_retention_days=30)
    assert changes(plan, session_for())[eks.LOG_GROUP].action is Action.UPDATE
    apply_ok(plan, session_for())
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/eks/dev-eks/cluster")["logGroups"]
    assert group["retentionInDays"] == 30


class Clock:
    """The engine's clock and the sandbox's EKS clock moved together: waits take no real time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.elapsed = 0.0
        start = eks_models.clock()
        monkeypatch.setattr(eks_models, "clock", lambda: start + self.elapsed)

    def now(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds


def test_cluster_left_updating_by_a_hand_made_change_converges_in_one_apply(session_for, boto, monkeypatch) -> None:
    apply_ok(DEV, session_for())
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
    clock = Clock(monkeypatch)
    client = boto("eks")
    # By hand: the public endpoint opened to another range; the cluster is UPDATING for minutes,
    # and describes its old configuration until the update is done.
    client.update_cluster_config(
        name="dev-eks",
        resourcesVpcConfig={
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["198.51.100.0/24"],
        },
    )
    assert client.describe_cluster(name="dev-eks")["cluster"]["status"] == "UPDATING"

    apply_ok(DEV, session_for(), clock)  # one apply
    cluster = client.describe_cluster(name="dev-eks")["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["resourcesVpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 0.0)
    assert not runner(DEV, session_for(), eks_nodes(DEV)).plan().has_changes


def test_cluster_updating_with_a_planned_change_waits_then_updates(session_for, boto, monkeypatch) -> None:
    apply_ok(DEV, session_for())
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
    clock = Clock(monkeypatch)
    client = boto("eks")
    client.update_cluster_config(
        name="dev-eks", logging={"clusterLogging": [{"types": ["scheduler"], "enabled": False}]}
    )
    plan = with_eks(endpoint=DEV.spec.eks.endpoint.model_copy(update={"public_cidrs": ["192.0.2.0/24"]}))
    apply_ok(plan, session_for(), clock)  # EKS refuses an update while another runs: the apply waits
    cluster = client.describe_cluster(name="dev-eks")["cluster"]
    assert cluster["resourcesVpcConfig"]["publicAccessCidrs"] == ["192.0.2.0/24"]
    enabled = {t for e in cluster["logging"]["clusterLogging"] if e["enabled"] for t in e["types"]}
    assert "scheduler" in enabled
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 0.0)
    assert not runner(plan, session_for(), eks_nodes(plan)).plan().has_changes
