"""What the database operations share: names and tags, the calls and their errors, the
restorable window, waiting for a restored instance."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import from_list, key_of, to_list
from provisioner.aws.waiters import wait_for
from provisioner.constants import MANAGED_BY, TAG_MANAGED_BY, TAG_PLAN
from provisioner.engine import PermanentError, RunContext
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps import rds as rds_step
from provisioner.steps.rds import rds_error
from provisioner.steps.rds.instances import DbInstance

SNAPSHOT_TIMEOUT = 7200.0  # a first snapshot copies the whole volume; later ones are incremental
IDENTIFIER = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*(?<!-)$")

# What a restore tags its instance with (besides the plan's own tags and ManagedBy): the
# plan it was restored for (how `restore --list` finds a plan's drills), the source and time.
TAG_RESTORED_FOR = "provisioner:restored-for"
TAG_RESTORED_FROM = "provisioner:restored-from"
TAG_RESTORE_TIME = "provisioner:restore-time"


# ----------------------------------------------------------------------------------- helpers
def parse_time(text: str) -> datetime | None:
    """`--to` values: an ISO 8601 time (`2026-11-25T20:15:00Z`, an offset, or naive = UTC), or
    `latest` (None: the latest restorable time)."""
    if text.strip().lower() == "latest":
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise PermanentError(
            f"{text!r} is not a time", hint="an ISO 8601 time such as 2026-11-25T20:15:00Z, or `latest`"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan_context(ctx_or_session: Any, plan: Plan) -> RunContext:
    if isinstance(ctx_or_session, RunContext):
        return ctx_or_session
    return RunContext(plan=plan, aws=ctx_or_session, dry_run=False)


def environment_spec(plan: Plan) -> EnvironmentPlan:
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan; only environment plans have a database")
    return plan.spec


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def check_identifier(name: str, what: str, max_length: int) -> str:
    if len(name) > max_length or not IDENTIFIER.match(name):
        raise PermanentError(
            f"{name!r} is not a valid {what}",
            hint=f"1-{max_length} letters, digits and single hyphens, starting with a letter",
        )
    return name.lower()


def rds_call(ctx: RunContext, key: str, region: str | None, operation: str, **params: Any) -> dict[str, Any]:
    return rds_step.rds_call(ctx, key, operation, region=region, **params)


def find_instance(ctx: RunContext, plan: Plan, key: str, region: str | None = None) -> dict[str, Any] | None:
    """The plan's instance, if it exists and carries the plan's ownership tags."""
    identifier = rds_step.names(plan)["instance"]
    try:
        item = ctx.aws.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        if error_code(exc) == "DBInstanceNotFound":
            return None
        raise rds_error(exc, key) from exc
    tags = from_list(item.get("TagList"))
    if tags.get(TAG_PLAN) != plan.name or key_of(tags) != rds_step.INSTANCE:
        raise PermanentError(f"DB instance {identifier} is not plan {plan.name}'s (no ownership tags)", key=key)
    return item


def user_tags(plan: Plan, **extra: str) -> list[dict[str, str]]:
    """The plan's tags and ManagedBy, but not the ownership pair (plan + key): what an
    operation makes is not a node of the plan, so no apply or destroy picks it up."""
    tags = dict(environment_spec(plan).tags)
    tags.update({TAG_MANAGED_BY: MANAGED_BY, **extra})
    return to_list(tags)


# What `exists` asks RDS: the describe operation, its name parameter, and the error code RDS
# answers with when there is none (each kind has its own).
_DESCRIBE = {
    "instance": ("describe_db_instances", "DBInstanceIdentifier", "DBInstanceNotFound"),
    "subnet group": ("describe_db_subnet_groups", "DBSubnetGroupName", "DBSubnetGroupNotFoundFault"),
}


def exists(ctx: RunContext, key: str, region: str, kind: str, name: str) -> bool:
    """Whether a DB instance or DB subnet group of that name exists in `region` (any owner)."""
    operation, parameter, not_found = _DESCRIBE[kind]
    try:
        getattr(ctx.aws.client("rds", region), operation)(**{parameter: name})
    except ClientError as exc:
        if error_code(exc) == not_found:
            return False
        raise rds_error(exc, key) from exc
    return True


def restore_window(backup: dict[str, Any]) -> tuple[Any, Any] | None:
    window = backup.get("RestoreWindow") or {}
    if not window.get("EarliestTime") or not window.get("LatestTime"):
        return None
    return window["EarliestTime"], window["LatestTime"]


def as_aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_time(value: Any) -> str | None:
    aware = as_aware(value)
    return aware.isoformat() if aware else (str(value) if value is not None else None)


def wait_available(ctx: RunContext, key: str, region: str, name: str, timeout: float) -> dict[str, Any]:
    poller = ctx.aws.poller("rds", region)
    latest: dict[str, Any] = {}

    def state() -> str | None:
        try:
            item = poller.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return None
            raise
        latest.clear()
        latest.update(item)
        return str(item.get("DBInstanceStatus"))

    wait_for(
        ctx,
        key=key,
        what=f"restored DB instance {name}",
        read_state=state,
        done={"available", "storage-optimization"},
        failed={
            "failed",
            "incompatible-restore",
            "incompatible-network",
            "incompatible-parameters",
            "restore-error",
            "inaccessible-encryption-credentials",
            "storage-full",
        },
        timeout=timeout,
        expected=DbInstance.create_seconds,
    )  # a restore builds a new instance: a create's p50
    return latest
