"""A plan's locks for a run that changes things: the local lock (engine/lock.py), then the
DynamoDB lease lock when the plan names a table (aws/dynamodb_lock.py), released in reverse.

Used by apply and destroy (operations/plan_run.py), `snapshot` and `restore`, and `unlock`,
which reads and breaks the DynamoDB lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from provisioner import paths
from provisioner.engine.lock import LocalLock, LockChain, RunLock
from provisioner.planfile import Plan

if TYPE_CHECKING:
    from provisioner.aws import AwsSession
    from provisioner.aws.dynamodb_lock import DynamoDbLock


def plan_lock(
    plan: Plan,
    operation: str,
    *,
    session: Callable[[], AwsSession],
    timeout: float = 0.0,
    notify: Callable[[str], None] = lambda message: None,
    cancel: threading.Event | None = None,
) -> LockChain:
    """The plan's locks, not yet acquired. A DynamoDB lock lost mid-run (broken with `unlock`)
    sets `cancel`: the run stops like after Ctrl-C, letting in-flight calls finish and starting
    nothing new, so two runs never keep writing at once. `session` is called only when the plan
    names a table."""
    locks: list[RunLock] = [LocalLock(paths.subdir("locks"), plan.name, operation, timeout=timeout)]
    if plan.spec.lock.dynamodb_table:
        locks.append(dynamodb_lock(plan, operation, session=session(), timeout=timeout, notify=notify, cancel=cancel))
    return LockChain(locks)


def dynamodb_lock(
    plan: Plan,
    operation: str,
    *,
    session: AwsSession,
    timeout: float = 0.0,
    notify: Callable[[str], None] = lambda message: None,
    cancel: threading.Event | None = None,
) -> DynamoDbLock:
    """The lease lock in the plan's table: in the plan's own region (not `--region`, so every
    run of the plan meets the same table) and the account of the credentials we run with.
    `notify` hears who holds it while we wait, and that it was lost."""
    from provisioner.aws.dynamodb_lock import DynamoDbLock

    def lost(message: str) -> None:
        notify(f"warning: {message}; stopping after the calls in flight")
        if cancel is not None:
            cancel.set()

    spec = plan.spec.lock
    return DynamoDbLock(
        session,
        str(spec.dynamodb_table),
        plan.name,
        operation,
        region=plan.spec.region,
        lease_seconds=spec.lease_seconds,
        timeout=timeout,
        notify=notify,
        on_lost=lost,
    )
