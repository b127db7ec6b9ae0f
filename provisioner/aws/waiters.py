"""Polling until a resource reaches a state, with progress and a timeout.

botocore's waiters poll at fixed delays (15 s for NAT gateways, 30 s for EKS and RDS) and
report nothing while they wait; SPEC section 10 asks for polls of at most 10 s and visible
progress. So this poller starts fast (1 s) and backs off to 10 s, reports the observed state
on every change and every ~30 s, and takes its timeout from latency-model.md's p95 with
margin. It runs on the engine's clock, so tests drive it without real sleeps, and a Ctrl-C
interrupts it at the next sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from provisioner.engine.context import RunContext
from provisioner.engine.errors import PermanentError

FIRST_DELAY = 1.0
MAX_DELAY = 10.0


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
    delay = FIRST_DELAY
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
        delay = min(delay * 1.5, MAX_DELAY)
