"""The poller's pending, failed and timeout paths on an injected clock (no real sleeps)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from provisioner.aws.waiters import FAR_DELAY, MAX_DELAY, MIN_DELAY, NEAR_DELAY, guided_delay, wait_for
from provisioner.engine import Interrupted, PermanentError, RunContext


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str]] = []

    def event(self, kind: str, key: str | None, message: str, **data: object) -> None:
        self.seen.append((kind, key, message))


def context() -> tuple[RunContext, FakeClock, Events]:
    clock, events = FakeClock(), Events()
    plan = SimpleNamespace(name="t", spec=SimpleNamespace(tags={}))
    return RunContext(plan=plan, aws=None, clock=clock, reporter=events), clock, events  # type: ignore[arg-type]


def test_wait_for_polls_pending_until_available_backing_off_to_ten_seconds() -> None:
    ctx, clock, events = context()
    states = iter(["pending"] * 12 + ["available"])
    assert (
        wait_for(ctx, key="network/nat/a", what="NAT", read_state=lambda: next(states), done={"available"}, timeout=600)
        == "available"
    )
    assert clock.sleeps[0] == 1.0 and max(clock.sleeps) == MAX_DELAY
    assert all(b >= a for a, b in zip(clock.sleeps, clock.sleeps[1:], strict=False))
    messages = [m for kind, key, m in events.seen if key == "network/nat/a"]
    assert messages[0].startswith("NAT: pending") and "available after" in messages[-1]


def test_wait_for_raises_permanent_error_with_the_failure_reason() -> None:
    ctx, _, _ = context()
    states = iter(["pending", "failed"])
    with pytest.raises(PermanentError) as raised:
        wait_for(
            ctx,
            key="k",
            what="NAT",
            read_state=lambda: next(states),
            done={"available"},
            failed={"failed"},
            timeout=600,
            describe_failure=lambda: "Subnet has insufficient free addresses",
        )
    assert "failed" in raised.value.message and "insufficient free addresses" in raised.value.message


def test_wait_for_times_out_with_a_hint_to_run_again() -> None:
    ctx, clock, _ = context()
    with pytest.raises(PermanentError) as raised:
        wait_for(ctx, key="k", what="cluster", read_state=lambda: "CREATING", done={"ACTIVE"}, timeout=60)
    assert clock.t <= 60 and "still CREATING" in raised.value.message
    assert "again" in (raised.value.hint or "")


def test_wait_for_treats_none_as_gone_for_deletions() -> None:
    ctx, _, _ = context()
    states = iter(["deleting", None])
    assert (
        wait_for(ctx, key="k", what="NAT deletion", read_state=lambda: next(states), done={None, "deleted"}, timeout=60)
        == ""
    )


def test_wait_for_stops_when_the_run_is_cancelled() -> None:
    ctx, _, _ = context()
    ctx.cancel.set()
    with pytest.raises(Interrupted):
        wait_for(ctx, key="k", what="NAT", read_state=lambda: "pending", done={"available"}, timeout=60)


# ------------------------------------------------------------------ the guided schedule
def _reads_until(change_at: float, expected: float | None) -> tuple[int, float, list[float]]:
    """Wait for a state that flips at `change_at`; return reads made, lateness, sleeps."""
    ctx, clock, _ = context()
    reads: list[float] = []

    def state() -> str:
        reads.append(clock.t)
        return "ACTIVE" if clock.t >= change_at else "CREATING"

    wait_for(ctx, key="eks/cluster", what="cluster", read_state=state, done={"ACTIVE"}, timeout=3600, expected=expected)
    return len(reads), clock.t - change_at, clock.sleeps


@pytest.mark.parametrize("p50", [570.0, 105.0, 40.0])
def test_guided_wait_ends_within_a_second_of_an_on_time_change_with_fewer_reads(p50: float) -> None:
    guided_reads, guided_late, sleeps = _reads_until(p50, expected=p50)
    plain_reads, plain_late, _ = _reads_until(p50, expected=None)
    assert guided_late <= 1.0 < plain_late
    assert guided_reads < plain_reads
    assert max(sleeps) <= FAR_DELAY  # SPEC section 10: never more than 10 s between reads


def test_guided_wait_reads_rarely_far_from_the_expected_finish_and_often_near_it() -> None:
    _, _, sleeps = _reads_until(570.0, expected=570.0)
    assert sleeps[:10] == [FAR_DELAY] * 10
    assert sleeps[-2:] == [NEAR_DELAY, NEAR_DELAY]


def test_guided_wait_past_its_expected_finish_backs_off_to_the_plain_ceiling() -> None:
    reads, late, sleeps = _reads_until(900.0, expected=570.0)  # at p95, 330 s late
    plain_reads, _, _ = _reads_until(900.0, expected=None)
    assert reads < plain_reads and late <= MAX_DELAY
    assert max(sleeps[-20:]) == MAX_DELAY


def test_guided_delay_is_scaled_to_the_sandbox_and_floored() -> None:
    assert guided_delay(0.0, 570.0, 1.0) == FAR_DELAY
    assert guided_delay(0.0, 570.0, 0.05) == pytest.approx(FAR_DELAY * 0.05)
    assert guided_delay(570.0 * 0.05, 570.0, 0.05) == pytest.approx(NEAR_DELAY * 0.05)
    assert guided_delay(0.0, 570.0, 0.0) == MIN_DELAY
    assert guided_delay(0.0, 570.0, 0.0001) == MIN_DELAY


def test_guided_wait_counts_from_when_the_operation_began() -> None:
    """A create call that took 20 s (or a resource found half way) is that far along: the reads
    gather around the change, not 20 s after it."""
    ctx, clock, _ = context()
    reads: list[float] = []

    def state() -> str:
        reads.append(clock.t)
        return "ACTIVE" if clock.t >= 570.0 - 20.0 else "CREATING"

    wait_for(
        ctx, key="k", what="cluster", read_state=state, done={"ACTIVE"}, timeout=3600, expected=570.0, already=20.0
    )
    assert 0 <= clock.t - 550.0 <= 1.0
    _, _, plain_sleeps = _reads_until(550.0, expected=None)
    assert len(reads) < len(plain_sleeps) + 1


def test_age_reads_aws_timestamps_and_ignores_what_it_cannot_use() -> None:
    from datetime import UTC, datetime

    from provisioner.aws.waiters import age

    assert age(datetime.fromtimestamp(1000.0, UTC), now=1012.5) == 12.5
    assert age(1000.0, now=1003.0) == 3.0
    assert age(None) == 0.0 and age("yesterday") == 0.0
    assert age(2000.0, now=1000.0) == 0.0  # a clock ahead of ours: counted from the wait's start
