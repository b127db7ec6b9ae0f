"""Plan: the change set computed from discovery and desired values, without writing."""

from __future__ import annotations

from collections.abc import Callable

from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Action, ChangeSet, Pending, Runner

from .fakes import PLAN, Child, FakeCloud, RecordingReporter, Thing

RunnerFor = Callable[..., Runner]


def actions(changeset: ChangeSet) -> list[tuple[str, Action]]:
    return [(c.key, c.action) for c in changeset.changes]


def chain() -> list[Thing]:
    return [Thing(key="a"), Child(key="b", depends_on=("a",), parent="a"), Thing(key="c")]


def test_plan_empty_cloud_every_node_create(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    changeset = runner_for(chain()).plan()
    assert actions(changeset) == [("a", Action.CREATE), ("b", Action.CREATE), ("c", Action.CREATE)]
    assert changeset.summary() == {"create": 3, "update": 0, "replace": 0, "delete": 0, "noop": 0}
    assert changeset.has_changes
    assert cloud.mutations() == []
    # One read per kind, however many nodes it has.
    assert sorted(cloud.ops("discover")) == ["fake:child", "fake:thing"]


def test_plan_empty_cloud_dependent_sees_pending_id(runner_for: RunnerFor) -> None:
    nodes = chain()
    runner = runner_for(nodes)
    runner.plan()
    parent = nodes[1].desired(runner.ctx.refs)["parent"]
    assert parent == Pending("fake:thing", "a")
    assert str(parent) == "<pending fake:thing a>"
    assert runner.ctx.refs.is_pending("a")


def test_plan_after_apply_every_node_noop(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    assert runner_for(chain()).apply().status == "ok"
    writes = cloud.mutations()
    changeset = runner_for(chain()).plan()
    assert actions(changeset) == [("a", Action.NOOP), ("b", Action.NOOP), ("c", Action.NOOP)]
    assert not changeset.has_changes
    live = [
        *cloud.keyed("fake:thing", "a"),
        *cloud.keyed("fake:child", "b"),
        *cloud.keyed("fake:thing", "c"),
    ]
    assert [c.id for c in changeset.changes] == live
    assert cloud.mutations() == writes


def test_plan_same_context_after_forget_every_node_noop(runner_for: RunnerFor) -> None:
    runner = runner_for(chain())
    runner.apply()
    runner.ctx.forget()
    assert {c.action for c in runner.plan().changes} == {Action.NOOP}


def test_plan_changed_field_is_update_with_diff(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a", size=1)]).apply()
    changeset = runner_for([Thing(key="a", size=3)]).plan()
    (change,) = changeset.changes
    assert change.action is Action.UPDATE
    assert change.diff == {"size": {"from": 1, "to": 3}}
    assert change.id == cloud.keyed("fake:thing", "a")[0]
    assert change.as_dict() == {
        "key": "a",
        "type": "fake:thing",
        "action": "update",
        "diff": {"size": {"from": 1, "to": 3}},
        "id": change.id,
    }


def test_plan_replace_on_field_is_replace_and_dependent_sees_pending(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(chain()).apply()
    old_a = cloud.keyed("fake:thing", "a")[0]
    nodes = chain()
    nodes[0].zone = "b"
    changeset = runner_for(nodes).plan().by_key()
    assert changeset["a"].action is Action.REPLACE
    assert changeset["a"].diff == {"zone": {"from": "a", "to": "b"}}
    # The dependent's reference becomes unknown until the replacement exists.
    assert changeset["b"].action is Action.REPLACE
    assert changeset["b"].diff == {"parent": {"from": old_a, "to": Pending("fake:thing", "a")}}
    assert changeset["b"].as_dict()["diff"]["parent"]["to"] == "<pending fake:thing a>"
    assert changeset["c"].action is Action.NOOP


def test_plan_managed_tag_changed_in_cloud_is_tag_update(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a")]).apply()
    item = cloud.items[cloud.keyed("fake:thing", "a")[0]]
    item.tags["Team"] = "someone-else"
    item.tags["Owner"] = "alice"  # not ours: never compared, never removed
    (change,) = runner_for([Thing(key="a")]).plan().changes
    assert change.action is Action.UPDATE
    assert change.diff == {"tags.Team": {"from": "someone-else", "to": "core"}}

    assert runner_for([Thing(key="a")]).apply().status == "ok"
    assert cloud.ops("set_tags") == ["a"]
    assert cloud.ops("update") == []
    assert item.tags["Team"] == "core"
    assert item.tags["Owner"] == "alice"
    assert not runner_for([Thing(key="a")]).plan().has_changes


def test_plan_missing_ownership_tag_is_tag_update(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    id_ = cloud.put("fake:thing", {"size": 1, "zone": "a"}, {TAG_PLAN: PLAN, TAG_KEY: "a"})
    (change,) = runner_for([Thing(key="a")]).plan().changes
    assert change.action is Action.UPDATE
    assert change.id == id_
    assert change.diff == {
        "tags.Team": {"from": None, "to": "core"},
        "tags.ManagedBy": {"from": None, "to": "provisioner"},
    }


def test_plan_orphan_with_plan_key_tag_is_delete_with_reason(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    orphan = cloud.put_owned("fake:thing", "removed-az", size=1, zone="a")
    other_plan = cloud.put_owned("fake:thing", "removed-az", plan="other", size=1, zone="a")
    changes = runner_for([Thing(key="a")]).plan().changes
    assert [(c.key, c.action, c.id, c.reason) for c in changes] == [
        ("a", Action.CREATE, None, None),
        ("removed-az", Action.DELETE, orphan, "no longer in the plan"),
    ]

    assert runner_for([Thing(key="a")]).apply().status == "ok"
    assert orphan not in cloud.items
    assert other_plan in cloud.items


def test_plan_orphan_of_another_kind_with_a_node_key_is_delete(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    wrong_kind = cloud.put_owned("fake:child", "a", size=1, zone="a")
    changes = runner_for([Thing(key="a"), Child(key="c")]).plan().changes
    assert [(c.key, c.type, c.action, c.id) for c in changes] == [
        ("a", "fake:thing", Action.CREATE, None),
        ("c", "fake:child", Action.CREATE, None),
        ("a", "fake:child", Action.DELETE, wrong_kind),
    ]


def test_plan_two_live_items_same_key_keeps_one_deletes_other(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    kept = cloud.put_owned("fake:thing", "a", size=1, zone="a")
    duplicate = cloud.put_owned("fake:thing", "a", size=1, zone="a")  # left by a crashed create
    changes = runner_for([Thing(key="a")]).plan().changes
    assert [(c.key, c.action, c.id) for c in changes] == [
        ("a", Action.NOOP, kept),
        ("a", Action.DELETE, duplicate),
    ]

    result = runner_for([Thing(key="a")]).apply()
    assert result.status == "ok"
    assert cloud.keyed("fake:thing", "a") == [kept]
    assert result.results[f"a#{duplicate}"].action == "delete"
    assert result.results["a"].action == "noop"


def test_apply_two_live_items_same_key_reports_kept_node_unchanged(
    cloud: FakeCloud, runner_for: RunnerFor, reporter: RecordingReporter
) -> None:
    cloud.put_owned("fake:thing", "a", size=1, zone="a")
    duplicate = cloud.put_owned("fake:thing", "a", size=1, zone="a")
    runner_for([Thing(key="a")]).apply()
    assert ("a", "delete") not in reporter.of("start")
    assert reporter.of("start") == [(f"a#{duplicate}", "delete")]


def test_estimate_plan_critical_path_of_creates(runner_for: RunnerFor) -> None:
    runner = runner_for(chain())
    estimate = runner.estimate(runner.plan())
    assert estimate == {"seconds": 2, "critical_path": ["a", "b"], "serial_seconds": 3}
