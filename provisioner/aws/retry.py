"""Retries for eventual consistency, per call (DESIGN: tenacity is for these, not throttling).

Throttling and 5xx are botocore's `standard` retry mode's job. What it does not retry are
errors that mean "not yet": a role EKS or EC2 cannot assume for seconds after IAM created
it, a `DependencyViolation` while something is still deleting. Those are retried here with
their own policy and budget, on the engine's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from provisioner.aws.errors import ClientError, error_code, error_message
from provisioner.engine.context import RunContext

T = TypeVar("T")

# latency-model.md: a new IAM role is usable by a service after 10 s (p50), 120 s (p95).
IAM_PROPAGATION_SECONDS = 120.0


def eventually(
    ctx: RunContext,
    call: Callable[[], T],
    *,
    codes: frozenset[str] | set[str],
    key: str,
    what: str,
    budget: float = 120.0,
    message_contains: str | None = None,
) -> T:
    """Run `call`, retrying while it fails with one of `codes` (optionally matching a message)."""
    clock = ctx.clock
    assert clock is not None

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, ClientError) or error_code(exc) not in codes:
            return False
        return message_contains is None or message_contains in error_message(exc)

    def report(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        ctx.progress(key, f"{what}: {error_code(exc) if exc else ''} (eventual consistency), retrying")

    retrying = Retrying(
        retry=retry_if_exception(retryable),
        wait=wait_exponential(multiplier=1, min=1, max=10),
        stop=stop_after_delay(budget),
        sleep=clock.sleep,
        before_sleep=report,
        reraise=True,
    )
    return retrying(call)
