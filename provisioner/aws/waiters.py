"""Polling until a resource reaches a state, with progress and a timeout.

botocore's waiters poll at fixed delays (15 s for NAT gateways, 30 s for EKS and RDS) and
report nothing while they wait; SPEC section 10 asks for polls of at most 10 s and visible
progress. So this poller starts fast (1 s) and backs off to 5 s, reports the observed state
on every change and every ~30 s, and takes its timeout from latency-model.md's p95 with
margin. It runs on the engine's clock, so tests drive it without real sleeps, and a Ctrl-C
interrupts it at the next sleep.

Against a sandbox whose slow operations take p50 x SCALE seconds, the run context carries a
`poll_scale` and every delay is multiplied by it (floored at 20 ms): with SCALE 0.02 an EKS
add-on is ready after 0.8 s, and a first poll at 1 s would overshoot it by a quarter.
On real AWS the scale is 1 and nothing changes.

A wait that knows how long its operation usually takes (`expected`, the kind's p50 from
latency-model.md) polls on a schedule guided by it instead: rarely while the resource is far
from its expected finish (every 10 s, SPEC's ceiling, then half the time left), every second
around it, and backing off slowly once it is late (1 s plus a tenth of the delay, at most
5 s). For an EKS cluster (p50 570 s) that is about 60 reads ending within a second of the
change when it comes on time, where the plain back-off makes about 120 and ends up to 5 s
late; a NAT gateway (105 s) takes about 16 reads instead of 24. A wait that ends long after
its p50 (AWS's spread; p95 is 1.5-2x p50) still polls at most every 5 s.

The guide counts from when the operation began, not from when the wait did: the call that
started it may itself have taken a while (`already`, the seconds between the request and the
wait), and a resource found half way (an interrupted run) is that far along. AWS says when an
operation began (EKS `createdAt`, NAT `CreateTime`, Organizations `RequestedTimestamp`), and
`age()` turns that into seconds. Against the sandbox at scale 0.05 a create call that takes
0.5 s on a loaded machine is 10 s of model time: counted from the wait's start, the reads
would cluster half a second after the resource was ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from provisioner.engine.context import RunContext
from provisioner.engine.errors import PermanentError

FIRST_DELAY = 1.0
# Half of SPEC's 10 s: a wait overshoots its resource by half a poll on average, and the
# slow waits sit on the critical path. A describe every 5 s is far inside EC2's, EKS's and
# RDS's read rate limits (latency-model.md), on the separate polling client.
MAX_DELAY = 5.0
BACKOFF = 1.5
# The shortest poll delay whatever the scale: a simulated AWS on loopback answers in a few
# ms, and polling faster than this only burns its CPU.
MIN_DELAY = 0.02

# The guided schedule (model seconds, multiplied by the scale like the others).
FAR_DELAY = 10.0  # SPEC section 10: polls of 10 s or less
NEAR_DELAY = 1.0  # around the expected finish: end within about a second of the change
LATE_GROWTH = 0.1  # past it: one more second of delay per 10 s of lateness...
LATE_MAX_DELAY = MAX_DELAY  # ...up to the plain schedule's ceiling


def poll_delays(scale: float = 1.0) -> Iterator[float]:
    """The poll schedule: 1 s, x1.5 per poll, at most 5 s; each times `scale`, floored at
    MIN_DELAY and never above MAX_DELAY."""
    scale = max(0.0, float(scale))
    delay = FIRST_DELAY
    while True:
        yield min(MAX_DELAY, max(MIN_DELAY, delay * scale))
        delay = min(delay * BACKOFF, MAX_DELAY)


def guided_delay(elapsed: float, expected: float, scale: float = 1.0) -> float:
    """The next poll delay, in real seconds, of a wait `elapsed` real seconds in whose
    operation usually ends `expected` model seconds after the wait started (see the module
    docstring). The sandbox's `scale` shrinks model time to real time."""
    scale = max(0.0, float(scale))
    if scale == 0:
        return MIN_DELAY
    remaining = expected - elapsed / scale
    if remaining > NEAR_DELAY:
        delay = min(FAR_DELAY, max(NEAR_DELAY, remaining / 2))
    else:
        delay = min(LATE_MAX_DELAY, NEAR_DELAY + LATE_GROWTH * max(0.0, -remaining))
    return max(MIN_DELAY, delay * scale)


def age(began: Any, now: float | None = None) -> float:
    """Real seconds since `began` (an AWS timestamp: an aware datetime, as botocore parses them,
    or epoch seconds); 0 when it is unknown or in the future (clock skew)."""
    if isinstance(began, datetime):
        began = began.timestamp()
    if not isinstance(began, (int, float)):
        return 0.0
    return max(0.0, (time.time() if now is None else now) - float(began))


def since(ctx: RunContext, requested: float) -> float:
    """Seconds on the run's clock since `requested` (a `ctx.clock.now()` taken before the call
    that started the operation): the `already` of the wait that follows it."""
    assert ctx.clock is not None
    return max(0.0, ctx.clock.now() - requested)


def wait_for(
    ctx: RunContext,
    *,
    key: str,
    what: str,
    read_state: Callable[[], str | None],
    done: Iterable[str | None],
    failed: Iterable[str | None] = (),
    timeout: float,
    describe_failure: Callable[[], str] | None = None,
    expected: float | None = None,
    already: float = 0.0,
) -> str:
    """Poll `read_state()` until it returns a state in `done`; return that state.

    `read_state` returns None when the resource is gone (a success if None is in `done`).
    `expected`: the operation's p50 in seconds (latency-model.md), counted from `already` real
    seconds before the wait starts (when the operation began); given, the polls follow
    `guided_delay`, otherwise the plain back-off of `poll_delays`.
    """
    done_set, failed_set = set(done), set(failed)
    clock = ctx.clock
    assert clock is not None
    start = clock.now()
    scale = ctx.poll_scale if ctx.poll_scale is not None else 1.0
    delays = poll_delays(scale)
    already = max(0.0, float(already))
    delay = guided_delay(already, expected, scale) if expected is not None else next(delays)
    last_state: Any = object()
    last_report = start
    while True:
        ctx.check_cancel()
        state = read_state()
        elapsed = clock.now() - start
        if state in done_set:
            if elapsed >= 1:
                ctx.progress(key, f"{what}: {state or 'gone'} after {elapsed:.0f}s")
            return state or ""
        if state in failed_set:
            detail = describe_failure() if describe_failure else ""
            raise PermanentError(f"{what}: reached {state}" + (f": {detail}" if detail else ""), key=key)
        if state != last_state or clock.now() - last_report >= 30:
            ctx.progress(key, f"{what}: {state or 'absent'} ({elapsed:.0f}s)", waiting=True)
            last_state, last_report = state, clock.now()
        if elapsed + delay > timeout:
            raise PermanentError(
                f"{what}: still {state} after {elapsed:.0f}s (timeout {timeout:.0f}s)",
                key=key,
                hint="AWS is slower than usual; run the same command again to keep waiting",
            )
        clock.sleep(delay)
        delay = guided_delay(clock.now() - start + already, expected, scale) if expected is not None else next(delays)
