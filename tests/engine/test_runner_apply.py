"""Apply: graph order, concurrency, the error taxonomy, retries on a fake clock, cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from provisioner.engine import PermanentError, Runner, RunResult, TemporaryError
from provisioner.engine.execution import RETRY_BUDGET_SECONDS

from .fakes import Child, FakeClock, FakeCloud, RecordingReporter, Thing, fail_times

RunnerFor = Callable[..., Runner]


def statuses(result: RunResult) -> dict[str, str]:
    return {key: r.status for key, r in result.results.items()}


def branches() -> list[Thing]:
    """a <- b <- c, and an independent x <- y."""
    return [
        Thing(key="a"),
        Thing(key="b", depends_on=("a",), parent="a"),
        Thing(key="c", depends_on=("b",), parent="b"),
        Thing(key="x"),
        Thing(key="y", depends_on=("x",), parent="x"),
    ]


def test_apply_dependencies_before_dependents(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    nodes = [
        Thing(key="d", depends_on=("b", "c"), parent="b"),
        Thing(key="c", depends_on=("a",), parent="a"),
        Thing(key="b", depends_on=("a",), parent="a"),
        Thing(key="a"),
        Child(key="e", depends_on=("d",), parent="d"),
    ]
    result = runner_for(nodes).apply()
    assert result.status == "ok"
    created = cloud.ops("create")
    assert sorted(created) == ["a", "b", "c", "d", "e"]
    for n in nodes:
        assert all(created.index(dep) < created.index(n.key) for dep in n.depends_on), created
    # Dependents got their dependency's real id through refs.
    (d,) = cloud.keyed("fake:thing", "d")
    (e,) = cloud.keyed("fake:child", "e")
    assert cloud.items[e].fields["parent"] == d
    assert {c.key: c.action.value for c in result.changeset.changes} == dict.fromkeys("abcde", "create")


def test_apply_independent_nodes_run_concurrently(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    # Each create waits for the other: run one after the other, the barrier would break.
    barrier = threading.Barrier(2, timeout=5)
    cloud.hooks[("create", "a")] = barrier.wait
    cloud.hooks[("create", "b")] = barrier.wait
    result = runner_for([Thing(key="a"), Thing(key="b")]).apply()
    assert statuses(result) == {"a": "done", "b": "done"}
    assert not barrier.broken


def test_apply_one_worker_runs_nodes_serially(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    barrier = threading.Barrier(2, timeout=0.5)
    cloud.hooks[("create", "a")] = barrier.wait
    result = runner_for([Thing(key="a"), Thing(key="b")], workers=1).apply()
    assert result.results["a"].status == "failed"
    assert "BrokenBarrierError" in (result.results["a"].error or "")
    assert result.results["b"].status == "done"


def test_apply_permanent_error_fails_node_skips_dependents(
    cloud: FakeCloud, runner_for: RunnerFor, reporter: RecordingReporter
) -> None:
    cloud.hooks[("create", "a")] = fail_times(1, PermanentError("quota exceeded", code="LimitExceeded"))
    result = runner_for(branches()).apply()
    assert statuses(result) == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "x": "done",
        "y": "done",
    }
    assert result.status == "failed"
    assert [f.key for f in result.failures()] == ["a"]
    assert result.results["a"].error == "LimitExceeded: quota exceeded"
    assert result.results["a"].error_code == "LimitExceeded"
    assert result.results["c"].error == "skipped: a failed"
    assert sorted(cloud.ops("create")) == ["a", "x", "y"]
    assert sorted(key for key, _ in reporter.of("skip")) == ["b", "c"]


def test_apply_skipped_dependents_make_status_failed(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    cloud.hooks[("create", "x")] = fail_times(1, PermanentError("denied"))
    result = runner_for(branches()).apply()
    assert result.status == "failed"
    assert [r.key for r in result.results.values() if r.status == "skipped"] == ["y"]


def test_apply_temporary_error_retried_until_third_attempt(
    cloud: FakeCloud, clock: FakeClock, runner_for: RunnerFor, reporter: RecordingReporter
) -> None:
    cloud.hooks[("create", "a")] = fail_times(2, TemporaryError("role not yet usable", delay=7, code="InvalidRole"))
    started = time.monotonic()
    result = runner_for([Thing(key="a"), Thing(key="b", depends_on=("a",), parent="a")]).apply()
    assert time.monotonic() - started < 2
    assert statuses(result) == {"a": "done", "b": "done"}
    assert cloud.ops("create") == ["a", "a", "a", "b"]
    assert len(cloud.keyed("fake:thing", "a")) == 1
    assert clock.sleeps == [7, 7]
    assert reporter.of("progress") == [("a", "retrying in 7s: role not yet usable")] * 2


def test_apply_temporary_error_forever_fails_after_budget(
    cloud: FakeCloud, clock: FakeClock, runner_for: RunnerFor
) -> None:
    cloud.hooks[("create", "a")] = fail_times(
        10**6, TemporaryError("still deleting", delay=30, code="DependencyViolation")
    )
    started = time.monotonic()
    result = runner_for(branches()).apply()
    assert time.monotonic() - started < 5  # the fake clock did the waiting
    assert statuses(result) == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "x": "done",
        "y": "done",
    }
    a = result.results["a"]
    budget = f"{RETRY_BUDGET_SECONDS:.0f}s"
    assert a.error == f"DependencyViolation: still failing after {budget} of retries: still deleting"
    assert a.error_code == "DependencyViolation"
    # Retries stop before the budget would be overrun: 600s / 30s = 20 waits, 21 attempts.
    assert clock.sleeps == [30] * 20
    assert clock.now() <= RETRY_BUDGET_SECONDS
    assert cloud.ops("create").count("a") == 21


def test_apply_temporary_error_longer_than_budget_fails_at_once(
    cloud: FakeCloud, clock: FakeClock, runner_for: RunnerFor
) -> None:
    cloud.hooks[("create", "a")] = fail_times(1, TemporaryError("come back tomorrow", delay=RETRY_BUDGET_SECONDS + 1))
    result = runner_for([Thing(key="a")]).apply()
    assert result.results["a"].status == "failed"
    assert clock.sleeps == []


def test_apply_unexpected_exception_fails_only_that_node(
    cloud: FakeCloud, runner_for: RunnerFor, reporter: RecordingReporter
) -> None:
    cloud.hooks[("create", "b")] = fail_times(1, ValueError("boom"))
    result = runner_for(branches()).apply()
    assert statuses(result) == {
        "a": "done",
        "b": "failed",
        "c": "skipped",
        "x": "done",
        "y": "done",
    }
    assert result.results["b"].error == "ValueError: boom"
    assert reporter.of("fail") == [("b", "ValueError: boom")]
    assert result.status == "failed"


def test_apply_unchanged_nodes_are_settled(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for(branches()).apply()
    assert cloud.ops("settle") == []  # created nodes are not settled
    writes = cloud.mutations()
    result = runner_for(branches()).apply()
    assert result.status == "ok"
    assert sorted(cloud.ops("settle")) == ["a", "b", "c", "x", "y"]
    assert cloud.mutations() == writes
    assert {c.action.value for c in result.changeset.changes} == {"noop"}


def test_apply_updated_node_is_settled(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a", size=1)]).apply()
    result = runner_for([Thing(key="a", size=2)]).apply()
    assert result.results["a"].action == "update"
    assert cloud.ops("update") == ["a"]
    assert cloud.ops("settle") == ["a"]
    assert cloud.items[cloud.keyed("fake:thing", "a")[0]].fields["size"] == 2


def test_apply_replace_deletes_then_creates(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a", zone="a")]).apply()
    (old,) = cloud.keyed("fake:thing", "a")
    result = runner_for([Thing(key="a", zone="b")]).apply()
    (new,) = cloud.keyed("fake:thing", "a")
    assert new != old
    assert cloud.items[new].fields["zone"] == "b"
    assert cloud.mutations()[-2:] == [("delete", "a"), ("create", "a")]
    (change,) = result.changeset.changes
    assert (change.action.value, change.id) == ("replace", new)


def test_apply_replace_with_referencing_dependent_replaces_both(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner_for([Thing(key="a", zone="a"), Child(key="b", depends_on=("a",), parent="a")]).apply()
    result = runner_for([Thing(key="a", zone="b"), Child(key="b", depends_on=("a",), parent="a")]).apply()
    # The old resources go first, dependents before what they depend on; then both are created.
    assert statuses(result) == {"a#delete": "done", "b#delete": "done", "a": "done", "b": "done"}
    assert [c.action.value for c in result.changeset.changes] == ["replace", "replace"]
    (a,) = cloud.keyed("fake:thing", "a")
    (b,) = cloud.keyed("fake:child", "b")
    assert cloud.items[b].fields["parent"] == a


def test_apply_cancel_before_start_interrupts_every_node(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner = runner_for(branches())
    runner.ctx.cancel.set()
    result = runner.apply()
    assert set(statuses(result).values()) == {"interrupted"}
    assert result.status == "interrupted"
    assert cloud.mutations() == []
    assert cloud.items == {}


def test_apply_cancel_while_running_interrupts_pending_nodes(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner = runner_for([Thing(key="a"), Thing(key="b", depends_on=("a",), parent="a")])
    cloud.hooks[("create", "a")] = runner.ctx.cancel.set
    result = runner.apply()
    assert statuses(result) == {"a": "done", "b": "interrupted"}  # in-flight work finishes
    assert result.status == "interrupted"
    assert cloud.ops("create") == ["a"]


def test_apply_cancel_during_retry_interrupts_node(cloud: FakeCloud, runner_for: RunnerFor) -> None:
    runner = runner_for([Thing(key="a")])

    def fail_and_cancel() -> None:
        runner.ctx.cancel.set()
        raise TemporaryError("not yet", delay=5)

    cloud.hooks[("create", "a")] = fail_and_cancel
    result = runner.apply()
    assert result.results["a"].status == "interrupted"
    assert cloud.ops("create") == ["a"]
