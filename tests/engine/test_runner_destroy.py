"""Destroy: the reversed graph, nodes with nothing live, and orphans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from provisioner.engine import Action, Live, PermanentError, Runner
from provisioner.engine.graph import Graph

from .fakes import Child, FakeCloud, Thing

RunnerFor = Callable[..., Runner]


class Gateway(Thing):
    type: ClassVar[str] = "fake:gateway"


def network(nat_kind: type[Thing] = Gateway) -> list[Thing]:
    """vpc <- subnet-a, subnet-b; nat on subnet-a; ecr independent."""
    return [
        Thing(key="vpc"),
        Child(key="subnet-a", depends_on=("vpc",), parent="vpc"),
        Child(key="subnet-b", depends_on=("vpc",), parent="vpc"),
        nat_kind(key="nat", depends_on=("subnet-a",), parent="subnet-a"),
        Thing(key="ecr"),
    ]


def test_destroy_deletes_dependents_first(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(network()).apply()
    runner = runner_for(network())
    planned = runner.plan(destroy=True)
    listed = [c.key for c in planned.changes]
    assert sorted(listed) == sorted(Graph.build(network()).nodes)
    assert all(c.action is Action.DELETE for c in planned.changes)
    for n in network():  # the plan lists deletions in the order destroy makes them
        assert all(listed.index(n.key) < listed.index(dep) for dep in n.depends_on), listed
    result = runner.destroy()
    assert result.status == "ok"
    deleted = cloud.ops("delete")
    assert sorted(deleted) == ["ecr", "nat", "subnet-a", "subnet-b", "vpc"]
    for n in network():
        assert all(deleted.index(n.key) < deleted.index(dep) for dep in n.depends_on), deleted
    assert cloud.items == {}
    assert not runner_for(network()).plan(destroy=True).has_changes


def test_destroy_nodes_with_nothing_live_are_noop(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    vpc = cloud.put_owned("fake:thing", "vpc", size=1, zone="a")
    runner = runner_for(network())
    planned = runner.plan(destroy=True).by_key()
    assert planned["vpc"].action is Action.DELETE
    assert planned["vpc"].id == vpc
    assert {planned[k].action for k in ("subnet-a", "subnet-b", "nat", "ecr")} == {Action.NOOP}
    result = runner.destroy()
    assert result.status == "ok"
    assert cloud.ops("delete") == ["vpc"]
    assert {k: (r.status, r.action) for k, r in result.results.items() if k != "vpc"} == dict.fromkeys(
        ("subnet-a", "subnet-b", "nat", "ecr"), ("done", "noop")
    )
    assert result.results["vpc"].action == "delete"


def test_destroy_without_plan_plans_first(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(network()).apply()
    assert runner_for(network()).destroy().status == "ok"
    assert cloud.items == {}


def test_destroy_orphans_before_kinds_they_depend_on(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(network()).apply()
    (vpc,) = cloud.keyed("fake:thing", "vpc")
    # A subnet of an AZ since removed from the plan, still inside our VPC.
    orphan = cloud.put_owned("fake:child", "subnet-c", size=1, zone="c", parent=vpc)
    runner = runner_for(network())
    planned = runner.plan(destroy=True).by_key()
    assert (planned["subnet-c"].action, planned["subnet-c"].id, planned["subnet-c"].reason) == (
        Action.DELETE,
        orphan,
        "no longer in the plan",
    )
    result = runner.destroy()
    assert result.status == "ok", result.results
    deleted = cloud.ops("delete")
    assert deleted.count("vpc") == 1  # no DependencyViolation: the orphan went first
    assert deleted.index("subnet-c") < deleted.index("vpc")
    assert cloud.items == {}


def test_destroy_orphan_with_kind_level_cycle_deletes_everything(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    # Key-level the graph is acyclic; kind-level, fake:thing and fake:child depend on each
    # other (like iam:role <- eks:cluster <- iam:role for IRSA roles).
    runner_for(network(nat_kind=Thing)).apply()
    (vpc,) = cloud.keyed("fake:thing", "vpc")
    cloud.put_owned("fake:child", "subnet-c", size=1, zone="c", parent=vpc)
    result = runner_for(network(nat_kind=Thing)).destroy()
    assert {r.status for r in result.results.values()} == {"done"}
    assert cloud.items == {}


def test_destroy_orphan_after_dependent_kinds(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    # An orphan VPC still holding one of our subnets: the subnet (a dependent kind) goes first.
    old_vpc = cloud.put_owned("fake:thing", "old-vpc", size=1, zone="a")
    cloud.put_owned("fake:child", "old-subnet", size=1, zone="a", parent=old_vpc)
    result = runner_for([Thing(key="vpc"), Child(key="subnet-a", depends_on=("vpc",), parent="vpc")]).destroy()
    assert result.status == "ok", result.results
    assert cloud.ops("delete") == ["old-subnet", "old-vpc"]
    assert cloud.items == {}


def test_destroy_leaves_other_plans_items(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    theirs = cloud.put_owned("fake:thing", "vpc", plan="prod", size=1, zone="a")
    runner_for(network()).apply()
    assert runner_for(network()).destroy().status == "ok"
    assert list(cloud.items) == [theirs]


# --- sweep kinds and destroy-only ordering ---------------------------------------------------


class Leftovers(Thing):
    """A sweep kind over fake items a controller made: selected by a `made-by` tag, not ours."""

    type: ClassVar[str] = "fake:leftover"
    sweep: ClassVar[bool] = True

    @classmethod
    def discover(cls, ctx: Any) -> list[Live]:
        cloud = ctx.aws
        return [
            Live(key="sweep", id=id_, fields={"reason": "made by the controller"}, raw=item)
            for id_, item in list(cloud.items.items())
            if item.type == "fake:leftover" and item.tags.get("made-by") == "controller"
        ]

    @classmethod
    def delete(cls, ctx: Any, have: Live) -> None:
        ctx.aws.delete("sweep", have.id)


def with_sweep() -> list[Thing]:
    """The sweep goes before the VPC (`depends_on`) and after the subnets (`destroy_after`)."""
    return [*network(), Leftovers(key="sweep", depends_on=("vpc",), destroy_after=("subnet-a", "subnet-b"))]


def test_apply_never_reads_or_runs_a_sweep(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    cloud.put("fake:leftover", {}, {"made-by": "controller"})
    runner = runner_for(with_sweep())
    planned = runner.plan()
    assert "sweep" not in {c.key for c in planned.changes}
    assert runner.apply().status == "ok"
    assert "sweep" not in cloud.ops("delete") and len(cloud.items) == 6


def test_destroy_lists_and_deletes_what_a_sweep_finds_in_order(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(with_sweep()).apply()
    made = cloud.put("fake:leftover", {}, {"made-by": "controller"})
    alike = cloud.put("fake:leftover", {}, {"made-by": "someone"})
    runner = runner_for(with_sweep())
    planned = runner.plan(destroy=True)
    swept = [c for c in planned.changes if c.key.startswith("sweep")]
    assert [(c.key, c.id, c.reason) for c in swept] == [(f"sweep#{made}", made, "made by the controller")]
    # The sweep's deletion counts (1 s each node, the kinds' default) and sits between the
    # subnets and the VPC: nat -> subnet-a -> sweep -> vpc.
    estimate = runner.estimate(planned, destroy=True)
    assert estimate["critical_path"] == ["nat", "subnet-a", "sweep", "vpc"] and estimate["seconds"] == 4
    assert runner.destroy().status == "ok"
    deleted = cloud.ops("delete")
    assert deleted.index("subnet-a") < deleted.index("sweep") < deleted.index("vpc")
    assert deleted.index("subnet-b") < deleted.index("sweep")
    assert set(cloud.items) == {alike}


def test_a_destroy_only_cycle_is_refused_when_the_graph_is_built() -> None:
    nodes = [*network(), Leftovers(key="sweep", depends_on=("subnet-a",), destroy_after=("vpc",))]
    with pytest.raises(PermanentError, match="cycle in a destroy"):
        Graph.build(nodes)
