"""`take_snapshot`: a manual snapshot of the plan's instance, waited for until `available`. Its
default name, `<identifier>-manual-<UTC time>`, is unique per moment; a name that is taken is
an error (snapshots are never overwritten)."""

from __future__ import annotations

from typing import Any

from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.waiters import wait_for
from provisioner.constants import TAG_PLAN
from provisioner.engine import PermanentError
from provisioner.engine.context import current_key
from provisioner.operations.rds.common import (
    SNAPSHOT_TIMEOUT,
    check_identifier,
    environment_spec,
    find_instance,
    iso_time,
    plan_context,
    stamp,
    user_tags,
)
from provisioner.planfile import Plan
from provisioner.steps import rds as rds_step
from provisioner.steps.rds import rds_error, rds_name


def take_snapshot(
    ctx_or_session: Any, plan: Plan, name: str | None = None, *, timeout: float = SNAPSHOT_TIMEOUT
) -> dict[str, Any]:
    """Take a manual snapshot of the plan's instance and wait until it is available.

    Returns {"snapshot", "arn", "instance", "region", "status", "created", "encrypted",
    "kms_key_id", "seconds"}.
    """
    ctx = plan_context(ctx_or_session, plan)
    environment_spec(plan)
    key = "operations/snapshot"
    token = current_key.set(key)
    try:
        item = find_instance(ctx, plan, key)
        if item is None:
            raise PermanentError(
                f"plan {plan.name} has no database in {ctx.region}", key=key, hint=f"apply {plan.name} first"
            )
        identifier = item["DBInstanceIdentifier"]
        if item.get("DBInstanceStatus") not in ("available", "storage-optimization", "backing-up"):
            raise PermanentError(
                f"DB instance {identifier} is {item.get('DBInstanceStatus')}; RDS snapshots only a running instance",
                key=key,
                hint="run the snapshot again once it is available",
            )
        snapshot = (
            check_identifier(name, "snapshot name", 255)
            if name
            else rds_name(identifier, "manual", stamp(), max_length=255)
        )
        try:
            created = ctx.aws.client("rds").create_db_snapshot(
                DBInstanceIdentifier=identifier,
                DBSnapshotIdentifier=snapshot,
                Tags=user_tags(plan, **{TAG_PLAN: plan.name, "provisioner:snapshot-of": rds_step.INSTANCE}),
            )["DBSnapshot"]
        except ClientError as exc:
            if error_code(exc) == "DBSnapshotAlreadyExists":
                raise PermanentError(
                    f"a snapshot named {snapshot} already exists",
                    key=key,
                    code="DBSnapshotAlreadyExists",
                    hint="choose another --name (snapshots are never overwritten)",
                ) from exc
            raise rds_error(exc, key) from exc
        ctx.progress(key, f"snapshot {snapshot} of {identifier} started")
        poller = ctx.aws.poller("rds")
        latest: dict[str, Any] = dict(created)
        assert ctx.clock is not None
        started = ctx.clock.now()

        def state() -> str | None:
            try:
                found = poller.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
            except ClientError as exc:
                if error_code(exc) == "DBSnapshotNotFound":
                    return None
                raise
            if found:
                latest.update(found[0])
            return str(found[0]["Status"]) if found else None

        wait_for(
            ctx,
            key=key,
            what=f"snapshot {snapshot}",
            read_state=state,
            done={"available"},
            # None: the snapshot is gone. wait_for accepts it (its docstring) though its
            # signature in aws/waiters.py says Iterable[str].
            failed={"failed", "error", "deleted", None},
            timeout=timeout,
        )
        return {
            "snapshot": snapshot,
            "arn": latest.get("DBSnapshotArn"),
            "instance": identifier,
            "region": ctx.region,
            "status": latest.get("Status"),
            "created": iso_time(latest.get("SnapshotCreateTime")),
            "encrypted": latest.get("Encrypted"),
            "kms_key_id": latest.get("KmsKeyId"),
            "seconds": round(ctx.clock.now() - started, 1),
        }
    finally:
        current_key.reset(token)
