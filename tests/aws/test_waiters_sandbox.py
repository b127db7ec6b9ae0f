"""The poller against the sandbox's simulated time: pending -> done, failed and timeout paths
on real resources, polls scaled to the sandbox's latency, and polling through faults.

The sandbox's latency is set per test (`set_latency`, as `sandbox start --latency` does) to a
scale that keeps every wait well under a second.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.retries import standard

from provisioner import sandbox
from provisioner.aws.waiters import MAX_DELAY, MIN_DELAY, poll_delays, wait_for
from provisioner.engine import PermanentError, RunContext
from provisioner.engine.context import SystemClock
from provisioner.sandbox.server import set_latency

NAT_P50 = 105.0  # latency-model.md: NAT gateway pending -> available
SCALE = 0.005  # NAT pending for 0.525 s, a created account IN_PROGRESS for 0.45 s


class RecordingClock(SystemClock):
    """Real time (the sandbox's transitions are real), recording each poll delay."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


class Events:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def event(self, kind: str, key: str | None, message: str, **data: object) -> None:
        self.messages.append(message)


@pytest.fixture
def latency() -> Iterator[Any]:
    set_latency(SCALE)
    yield SCALE
    set_latency(0.0)


def context(session: Any, poll_scale: float | None = SCALE) -> tuple[RunContext, RecordingClock, Events]:
    clock, events = RecordingClock(), Events()
    plan = SimpleNamespace(name="t", spec=SimpleNamespace(tags={}))
    ctx = RunContext(plan=plan, aws=session, clock=clock, reporter=events, poll_scale=poll_scale)  # type: ignore[arg-type]
    return ctx, clock, events


def nat_gateway(boto: Any) -> str:
    return timed_nat_gateway(boto)[0]


def timed_nat_gateway(boto: Any) -> tuple[str, float]:
    """A new NAT gateway and the monotonic time just before its create (its pending starts then)."""
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.0.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    started = time.monotonic()
    return str(ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]), started


def nat_state(session: Any, nat_id: str) -> Any:
    poller = session.poller("ec2")
    return lambda: poller.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]["State"]


def test_wait_for_nat_gateway_pending_then_available_with_polls_scaled_to_the_sandbox(
    latency: float, session_for: Any, boto: Any
) -> None:
    session = session_for()
    session.poller("ec2").describe_nat_gateways()  # a client's first call is slow: not inside the wait
    # The simulated pending time runs from the create: measure from just before it.
    nat_id, started = timed_nat_gateway(boto)
    ctx, clock, events = context(session)
    assert (
        wait_for(
            ctx,
            key="network/nat/a",
            what=f"NAT gateway {nat_id}",
            read_state=nat_state(session, nat_id),
            done={"available"},
            failed={"failed"},
            timeout=600,
        )
        == "available"
    )
    elapsed = time.monotonic() - started
    assert any("pending" in m for m in events.messages), events.messages
    # Polled often, on the scaled schedule (20 ms floor), and the wait overshot the simulated
    # pending time by well under one unscaled first poll (1 s).
    assert len(clock.sleeps) >= 3 and clock.sleeps[0] == MIN_DELAY
    assert max(clock.sleeps) <= MAX_DELAY * SCALE + 1e-9 or max(clock.sleeps) == MIN_DELAY
    assert NAT_P50 * SCALE <= elapsed < NAT_P50 * SCALE + 0.45


def test_guided_wait_for_nat_gateway_ends_right_after_it_is_available_with_fewer_reads(
    session_for: Any, boto: Any
) -> None:
    scale = 0.02  # NAT pending for 2.1 s: long enough that a loaded machine still sees it pending
    set_latency(scale)
    try:
        session = session_for()
        session.poller("ec2").describe_nat_gateways()
        reads: dict[str, int] = {}
        for schedule, expected in (("plain", None), ("guided", NAT_P50)):
            nat_id, started = timed_nat_gateway(boto)
            ctx, clock, _ = context(session, poll_scale=scale)
            wait_for(
                ctx,
                key="network/nat/a",
                what=f"NAT gateway {nat_id}",
                read_state=nat_state(session, nat_id),
                done={"available"},
                timeout=600,
                expected=expected,
            )
            reads[schedule] = len(clock.sleeps) + 1
            late = time.monotonic() - started - NAT_P50 * scale
    finally:
        set_latency(0.0)
    # The last (guided) wait overshot the simulated pending time by about one near poll
    # (1 s x scale) plus the sandbox's answer time.
    assert 0 <= late < 0.25
    assert reads["guided"] < reads["plain"]


def test_wait_for_created_account_pending_then_failed_raises_with_the_reason(
    latency: float, session_for: Any, boto: Any
) -> None:
    set_latency(0.02)  # IN_PROGRESS for 1.8 s: seen pending even on a loaded machine (the fixture resets it)
    orgs = boto("organizations")
    orgs.create_organization(FeatureSet="ALL")
    orgs.create_account(Email="twin@example.com", AccountName="first")
    # The same email again: IN_PROGRESS for 90 s x scale, then FAILED (EMAIL_ALREADY_EXISTS).
    request_id = orgs.create_account(Email="twin@example.com", AccountName="second")["CreateAccountStatus"]["Id"]
    session = session_for()
    poller = session.poller("organizations")
    last: dict[str, Any] = {}

    def state() -> str:
        last.update(poller.describe_create_account_status(CreateAccountRequestId=request_id)["CreateAccountStatus"])
        return str(last["State"])

    ctx, _, events = context(session, poll_scale=0.02)
    with pytest.raises(PermanentError) as raised:
        wait_for(
            ctx,
            key="organization/account/second",
            what="account second",
            read_state=state,
            done={"SUCCEEDED"},
            failed={"FAILED"},
            timeout=600,
            describe_failure=lambda: str(last.get("FailureReason")),
        )
    assert any("IN_PROGRESS" in m for m in events.messages), events.messages
    assert raised.value.key == "organization/account/second"
    assert "reached FAILED" in raised.value.message and "EMAIL_ALREADY_EXISTS" in raised.value.message


def test_wait_for_nat_gateway_times_out_while_pending_with_a_hint_to_run_again(
    latency: float, session_for: Any, boto: Any
) -> None:
    session = session_for()
    session.poller("ec2").describe_nat_gateways()
    nat_id = nat_gateway(boto)
    ctx, _, _ = context(session)
    started = time.monotonic()
    with pytest.raises(PermanentError) as raised:
        wait_for(
            ctx,
            key="network/nat/a",
            what=f"NAT gateway {nat_id}",
            read_state=nat_state(session, nat_id),
            done={"available"},
            timeout=0.15,
        )
    assert time.monotonic() - started < NAT_P50 * SCALE
    assert "still pending" in raised.value.message and "timeout" in raised.value.message
    assert "again" in (raised.value.hint or "")


def _post_faults(url: str, body: dict[str, Any]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{url}/_sandbox/faults", data=json.dumps(body).encode(), method="POST")
    with opener.open(request, timeout=5) as response:
        assert response.status == 200


def test_wait_for_keeps_polling_through_throttles_and_500s(
    latency: float, aws: str, session_for: Any, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = standard.ExponentialBackoff.delay_amount  # botocore's backoff, a hundredfold shorter
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, c: original(self, c) / 100)
    nat_id = nat_gateway(boto)
    session = session_for()
    ctx, _, _ = context(session)
    _post_faults(aws, {"throttle": 0.3, "error": 0.1, "seed": 3})
    try:
        assert (
            wait_for(
                ctx,
                key="network/nat/a",
                what="NAT",
                read_state=nat_state(session, nat_id),
                done={"available"},
                timeout=600,
            )
            == "available"
        )
    finally:
        _post_faults(aws, {})


# ------------------------------------------------------------------------ the schedule
def test_poll_schedule_is_unchanged_on_real_aws_and_scaled_in_the_sandbox() -> None:
    real = [d for d, _ in zip(poll_delays(1.0), range(10), strict=False)]
    assert real[:3] == [1.0, 1.5, 2.25] and real[-1] == MAX_DELAY
    scaled = [d for d, _ in zip(poll_delays(0.02), range(10), strict=False)]
    assert scaled[0] == 0.02 and scaled[-1] == pytest.approx(MAX_DELAY * 0.02)
    assert all(d == MIN_DELAY for d, _ in zip(poll_delays(0.001), range(5), strict=False))  # floored
    assert (
        max(d for d, _ in zip(poll_delays(50), range(20), strict=False)) == MAX_DELAY
    )  # never above it, whatever the scale


def test_run_context_takes_the_poll_scale_of_its_session_or_the_management_session() -> None:
    plan = SimpleNamespace(name="t", spec=SimpleNamespace(tags={}))
    management = SimpleNamespace(poll_scale=0.02)
    assert RunContext(plan=plan, aws=management).poll_scale == 0.02  # type: ignore[arg-type]
    member = SimpleNamespace(management=management)
    assert RunContext(plan=plan, aws=member).poll_scale == 0.02  # type: ignore[arg-type]
    assert RunContext(plan=plan, aws=None).poll_scale == 1.0  # type: ignore[arg-type]
    assert RunContext(plan=plan, aws=management, poll_scale=0.5).poll_scale == 0.5  # type: ignore[arg-type]


def test_sandbox_sessions_poll_on_the_sandboxs_time_scale(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner.cli import session as cli

    assert sandbox.poll_scale({"latency": 0.02}) == 0.02
    assert sandbox.poll_scale({"latency": 3}) == 1.0
    assert sandbox.poll_scale({"latency": 0.0}) == sandbox.MIN_POLL_SCALE
    monkeypatch.setattr(sandbox, "start", lambda **kwargs: {"running": True, "aws_endpoint_url": aws, "latency": 0.05})
    args = argparse.Namespace(region=None, sandbox=True, profile=None)
    plan = SimpleNamespace(spec=SimpleNamespace(region="us-east-1"))
    session = cli.make_session(args, plan)  # type: ignore[arg-type]
    assert session.endpoint_url == aws and session.poll_scale == 0.05
    args.sandbox = False
    assert getattr(cli.make_session(args, plan), "poll_scale", 1.0) == 1.0  # type: ignore[arg-type]


def test_nat_gateway_kind_waits_on_the_guided_schedule_for_create_and_delete(
    session_for: Any, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #17 item 6: the kind's own waits pass its p50 (create_seconds, delete_seconds), so
    they poll on the guided schedule rather than the plain back-off."""
    from provisioner.engine import Live
    from provisioner.steps.network import nat_gateways

    seen: list[float | None] = []
    real = nat_gateways.wait_for

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("expected"))
        return real(*args, **kwargs)

    monkeypatch.setattr(nat_gateways, "wait_for", recording)
    scale = 0.005
    set_latency(scale)
    try:
        session = session_for()
        nat_id, _ = timed_nat_gateway(boto)
        ctx, clock, _ = context(session, poll_scale=scale)
        node = nat_gateways.NatGateway(key="network/nat/a", subnet="network/subnet/a", eip="network/eip/a")
        have = Live(key=node.key, id=nat_id, tags={})
        node.settle(ctx, have)
        nat_gateways.NatGateway.delete(ctx, have)
    finally:
        set_latency(0.0)
    assert seen == [nat_gateways.NatGateway.create_seconds, nat_gateways.NatGateway.delete_seconds]
    # The guided schedule's first poll is far from the p50: longer than the plain one's first.
    assert clock.sleeps[0] > MIN_DELAY
