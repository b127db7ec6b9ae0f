"""Replacements on day two (SPEC section 11): why, create-before-destroy, what lives inside a
replaced resource, re-reading dependents after a replacement, and guarded changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from provisioner.constants import TAG_KEY
from provisioner.engine import Action, Live, RunContext, Runner

from .fakes import Child, FakeCloud, Thing

RunnerFor = Callable[..., Runner]


class Group(Thing):
    """A kind AWS lets exist twice while one replaces the other (a node group)."""

    type: ClassVar[str] = "fake:group"
    create_before_destroy: ClassVar[bool] = True


@dataclass(kw_only=True)
class Inner(Thing):
    """A kind that lives inside its parent (an add-on in a cluster)."""

    type: ClassVar[str] = "fake:inner"

    def container(self) -> str | None:
        return self.depends_on[0]


class Vault(Thing):
    """A guarded kind (a database)."""

    type: ClassVar[str] = "fake:vault"
    guarded: ClassVar[bool] = True

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        return "holds the data"


def test_replacement_says_why_in_plan_and_json(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a", zone="a")]).apply()
    (change,) = runner_for([Thing(key="a", zone="b")]).plan().changes
    assert change.action is Action.REPLACE
    assert change.reason == "fake:thing cannot change zone in place"
    assert change.as_dict()["reason"] == change.reason


def test_create_before_destroy_makes_the_new_resource_before_deleting_the_old(
    cloud: FakeCloud, runner_for: RunnerFor
) -> None:
    nodes = [Group(key="g", zone="a"), Thing(key="d", depends_on=("g",))]
    runner_for(nodes).apply()
    (old,) = cloud.keyed("fake:group", "g")
    cloud.calls.clear()

    result = runner_for([Group(key="g", zone="b"), Thing(key="d", depends_on=("g",))]).apply()
    assert result.status == "ok", result.results
    assert [m for m in cloud.mutations() if m[1] == "g"] == [("create", "g"), ("delete", "g")]
    (new,) = cloud.keyed("fake:group", "g")
    assert new != old and cloud.items[new].fields["zone"] == "b"
    assert "g#delete" not in result.results and result.results["g#retire"].status == "done"
    # Dependents do not wait for the old one to go.
    assert "g#retire" not in runner_for([Group(key="g", zone="c"), Thing(key="d", depends_on=("g",))]).graph.deps["d"]


def test_contents_of_a_replaced_container_are_replaced_not_trusted(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="box", zone="a"), Inner(key="inner", depends_on=("box",))]).apply()
    nodes = [Thing(key="box", zone="b"), Inner(key="inner", depends_on=("box",))]
    changes = runner_for(nodes).plan().by_key()
    assert changes["inner"].action is Action.REPLACE
    assert changes["inner"].reason == "it lives in box, which is replaced"

    cloud.calls.clear()
    result = runner_for(nodes).apply()
    assert result.status == "ok"
    # The old content went before its container, and the new one was made in the new container.
    order = cloud.mutations()
    assert (
        order.index(("delete", "inner"))
        < order.index(("delete", "box"))
        < order.index(("create", "box"))
        < order.index(("create", "inner"))
    )
    assert not runner_for(nodes).plan().has_changes


def test_dependents_of_a_replacement_are_read_again_in_the_same_apply(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    """What the replaced resource took with it (a cluster's objects) is found missing and made
    again in the same run, not planned as unchanged from the earlier read."""
    nodes = [Thing(key="cluster", zone="a"), Child(key="object", depends_on=("cluster",))]
    runner_for(nodes).apply()

    def cluster_takes_its_objects_along() -> None:
        for id_, item in list(cloud.items.items()):
            if item.type == "fake:child" and item.tags.get(TAG_KEY) == "object":
                del cloud.items[id_]

    cloud.hooks[("delete", "cluster")] = cluster_takes_its_objects_along
    cloud.calls.clear()
    replaced = [Thing(key="cluster", zone="b"), Child(key="object", depends_on=("cluster",))]
    runner = runner_for(replaced)
    assert runner.plan().by_key()["object"].action is Action.NOOP  # nothing says otherwise before the run
    result = runner.apply()
    assert result.status == "ok"
    assert cloud.keyed("fake:child", "object"), "the object the replacement took along was not made again"
    assert cloud.ops("discover").count("fake:child") == 2
    assert {c.key: c.action for c in result.changeset.changes}["object"] is Action.CREATE
    assert not runner_for(replaced).plan().has_changes


def test_guarded_replacements_and_deletions_are_marked_with_their_dependents(
    cloud: FakeCloud, runner_for: RunnerFor
) -> None:
    runner_for(
        [Vault(key="db", zone="a"), Thing(key="app", depends_on=("db",)), Thing(key="log", depends_on=("app",))]
    ).apply()
    cloud.put_owned("fake:vault", "old-db", zone="a")  # no longer in the plan: an orphan to delete
    runner = runner_for(
        [Vault(key="db", zone="b"), Thing(key="app", depends_on=("db",)), Thing(key="log", depends_on=("app",))]
    )
    changes = runner.plan().by_key()
    assert changes["db"].guard == "holds the data" and changes["db"].dependents == ["app", "log"]
    assert changes["old-db"].action is Action.DELETE and changes["old-db"].guard == "holds the data"
    assert changes["app"].guard is None
    assert changes["db"].as_dict()["dependents"] == ["app", "log"]
    assert {c.key for c in runner.refused()} == {"db", "old-db"}
    assert [c.key for c in runner.refused({"db"})] == ["old-db"]
    assert runner.refused({"db", "old-db"}) == []
