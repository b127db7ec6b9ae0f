"""Restore drills: `list_drills` finds the instances restore made for a plan (tagged
`provisioner:restored-for=<plan>`, or, for older ones, restored from the plan's instance) in
both regions; `delete_drill` deletes one (no final snapshot)."""

from __future__ import annotations

from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import from_list
from provisioner.aws.waiters import wait_for
from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import PermanentError
from provisioner.engine.context import current_key
from provisioner.operations.rds.common import (
    TAG_RESTORE_TIME,
    TAG_RESTORED_FOR,
    TAG_RESTORED_FROM,
    environment_spec,
    iso_time,
    plan_context,
)
from provisioner.planfile import Plan
from provisioner.steps import rds as rds_step
from provisioner.steps.rds import rds_error
from provisioner.steps.rds.instances import DELETE_TIMEOUT, DbInstance


def _is_drill_of(plan: Plan, identifier: str, tags: dict[str, str]) -> bool:
    """A restore of this plan: tagged for it, or (restores made before that tag) restored from
    the plan's instance. Never an instance with ownership tags (the plan's own)."""
    if tags.get(TAG_PLAN) or tags.get(TAG_KEY) or TAG_RESTORED_FROM not in tags:
        return False
    if TAG_RESTORED_FOR in tags:
        return tags[TAG_RESTORED_FOR] == plan.name
    return tags[TAG_RESTORED_FROM].endswith(f":db:{identifier}")


def list_drills(ctx_or_session: Any, plan: Plan) -> list[dict[str, Any]]:
    """The instances `restore` made for this plan, in its region and DR region: what stays
    after a drill (restores are never the plan's, so neither apply nor destroy removes them)
    until `delete_drill`. One DescribeDBInstances per region (it returns tags)."""
    ctx = plan_context(ctx_or_session, plan)
    spec = environment_spec(plan)
    identifier = rds_step.names(plan)["instance"]
    drills = []
    for region in dict.fromkeys(r for r in (ctx.region or spec.region, spec.dr_region) if r):
        try:
            items = describe_all(ctx.aws.client("rds", region), "describe_db_instances", "DBInstances")
        except ClientError as exc:
            raise rds_error(exc, "operations/restore") from exc
        for item in items:
            tags = from_list(item.get("TagList"))
            if not _is_drill_of(plan, identifier, tags):
                continue
            created = item.get("InstanceCreateTime")
            drills.append(
                {
                    "instance": item["DBInstanceIdentifier"],
                    "region": region,
                    "status": item.get("DBInstanceStatus"),
                    "restore_time": tags.get(TAG_RESTORE_TIME),
                    "source": tags.get(TAG_RESTORED_FROM),
                    "created": iso_time(created),
                    "subnet_group": (item.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
                    "deletion_protection": bool(item.get("DeletionProtection")),
                }
            )
    return sorted(drills, key=lambda d: (d["region"], d["instance"]))


def delete_drill(ctx_or_session: Any, plan: Plan, name: str, *, timeout: float = DELETE_TIMEOUT) -> dict[str, Any]:
    """Delete a drill instance of this plan (see `list_drills`; anything else is refused, the
    plan's own instance above all) without a final snapshot, its automated backups with it,
    lifting the deletion protection a drill of a protected plan gets; waits until it is gone,
    so a `destroy` that it blocked can run next."""
    ctx = plan_context(ctx_or_session, plan)
    key = "operations/restore"
    token = current_key.set(key)
    try:
        drill = next((d for d in list_drills(ctx, plan) if d["instance"] == name), None)
        if drill is None:
            listed = ", ".join(d["instance"] for d in list_drills(ctx, plan)) or "none"
            raise PermanentError(
                f"{name} is not a restore drill of plan {plan.name} (drills: {listed})",
                key=key,
                hint=f"`provisioner restore {plan.name} --list` lists them; other instances are not this command's to delete",
            )
        client = ctx.aws.client("rds", drill["region"])
        try:
            if drill["status"] != "deleting":
                if drill["deletion_protection"]:
                    ctx.progress(key, f"lifting the deletion protection of drill {name}")
                    client.modify_db_instance(
                        DBInstanceIdentifier=name, DeletionProtection=False, ApplyImmediately=True
                    )
                ctx.progress(key, f"deleting drill {name} in {drill['region']} (no final snapshot)")
                client.delete_db_instance(
                    DBInstanceIdentifier=name, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
                )
        except ClientError as exc:
            if error_code(exc) != "DBInstanceNotFound":
                raise rds_error(exc, key) from exc
        poller = ctx.aws.poller("rds", drill["region"])

        def state() -> str | None:
            try:
                return str(
                    poller.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]
                )
            except ClientError as exc:
                if error_code(exc) == "DBInstanceNotFound":
                    return None
                raise

        wait_for(
            ctx,
            key=key,
            what=f"drill {name} deletion",
            read_state=state,
            done={None},
            timeout=timeout,
            expected=DbInstance.delete_seconds,
        )
        return {"deleted": name, "region": drill["region"]}
    finally:
        current_key.reset(token)
