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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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


def poll_delays(scale: float = 1.0) -> Iterator[float]:
    """The poll schedule: 1 s, x1.5 per poll, at most 5 s; each times `scale`, floored at
    MIN_DELAY and never above MAX_DELAY."""
    scale = max(0.0, float(scale))
    delay = FIRST_DELAY
    while True:
        yield min(MAX_DELAY, max(MIN_DELAY, delay * scale))
        delay = min(delay * BACKOFF, MAX_DELAY)


def wait_for(
    ctx: RunContext,
    *,
    key: str,
    what: str,
    read_state: Callable[[], str | None],
    done: Iterable[str],
    failed: Iterable[str] = (),
    timeout: float,
    describe_failure: Callable[[], str] | None = None,
) -> str:
    """Poll `read_state()` until it returns a state in `done`; return that state.

    `read_state` returns None when the resource is gone (a success if None is in `done`).
    """
    done_set, failed_set = set(done), set(failed)
    clock = ctx.clock
    assert clock is not None
    start = clock.now()
    delays = poll_delays(ctx.poll_scale if ctx.poll_scale is not None else 1.0)
    delay = next(delays)
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
        delay = next(delays)
