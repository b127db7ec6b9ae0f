"""Database operations outside apply/destroy: a manual snapshot, a point-in-time restore.

`take_snapshot` makes a manual snapshot of the plan's instance and waits until it is
`available`. Its default name, `<identifier>-manual-<UTC time>`, is unique per moment; a
name that is taken is an error (snapshots are never overwritten).

`restore_to_time` restores the plan's database as it was at a moment (or at the latest
restorable time) into a new instance; the plan's own instance is never touched, and the
new one is not the plan's: it carries the plan's tags but not its ownership tags, so neither
`apply` nor `destroy` adopts or deletes it (a restored database may be about to become the
real one). It gets the plan's security settings (gp3, not public, IAM auth, log exports,
copy tags, deletion protection per plan, master password managed by RDS, class and
Multi-AZ per plan).

- In the primary region it restores from the instance's automated backups (or, once the
  instance is deleted, from its retained ones) with the same DB subnet group, security
  group and parameter group as the instance.
- In the DR region it restores from the replicated automated backups
  (`SourceDBInstanceAutomatedBackupsArn`), encrypted with the DR key. The plan has no network
  there, so the restore uses, in this order: the subnet group and security groups passed in;
  a DB subnet group with the plan's name and security groups tagged as the plan's database
  group in that region (a DR network prepared for it); or, only if asked
  (`use_default_network`), the region's default VPC with its default security group, still
  not publicly accessible. Otherwise it stops and says what is missing. The parameter group
  is copied there (same name, family and parameters) if that region has none of that name.

Times are checked against the backup's restorable window before anything is created; the
error names the window.

A restored instance is a drill until someone makes it the real database: `list_drills` finds
the plan's (tagged `provisioner:restored-for=<plan>`, or, for older ones, restored from the
plan's instance) in both regions, `delete_drill` deletes one. A drill left in the plan's
subnets blocks `destroy` (its DB subnet group, then the VPC), which names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code, error_message
from provisioner.aws.tags import from_list, key_of, to_list
from provisioner.aws.waiters import wait_for
from provisioner.constants import MANAGED_BY, TAG_KEY, TAG_MANAGED_BY, TAG_PLAN
from provisioner.engine import PermanentError, RunContext
from provisioner.engine.context import current_key
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps import rds as rds_step
from provisioner.steps.rds._rds import rds_call, rds_error, rds_name
from provisioner.steps.rds.instances import CREATE_TIMEOUT, DELETE_TIMEOUT, LOG_EXPORTS, DbInstance
from provisioner.steps.rds.parameter_groups import POSTGRES_PARAMETERS, STATIC

SNAPSHOT_TIMEOUT = 7200.0  # a first snapshot copies the whole volume; later ones are incremental
_IDENTIFIER = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*(?<!-)$")

__all__ = ["delete_drill", "list_drills", "parse_time", "restore_to_time", "take_snapshot"]

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


def _context(ctx_or_session: Any, plan: Plan) -> RunContext:
    if isinstance(ctx_or_session, RunContext):
        return ctx_or_session
    return RunContext(plan=plan, aws=ctx_or_session, dry_run=False)


def _spec(plan: Plan) -> EnvironmentPlan:
    if not isinstance(plan.spec, EnvironmentPlan):
        raise PermanentError(f"plan {plan.name} is a {plan.kind} plan; only environment plans have a database")
    return plan.spec


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _check_identifier(name: str, what: str, max_length: int) -> str:
    if len(name) > max_length or not _IDENTIFIER.match(name):
        raise PermanentError(
            f"{name!r} is not a valid {what}",
            hint=f"1-{max_length} letters, digits and single hyphens, starting with a letter",
        )
    return name.lower()


def _call(ctx: RunContext, key: str, region: str | None, operation: str, **params: Any) -> dict[str, Any]:
    return rds_call(ctx, key, operation, region=region, **params)


def _find_instance(ctx: RunContext, plan: Plan, key: str, region: str | None = None) -> dict[str, Any] | None:
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


def _user_tags(plan: Plan, **extra: str) -> list[dict[str, str]]:
    """The plan's tags and ManagedBy, but not the ownership pair (plan + key): what an
    operation makes is not a node of the plan, so no apply or destroy picks it up."""
    tags = dict(_spec(plan).tags)
    tags.update({TAG_MANAGED_BY: MANAGED_BY, **extra})
    return to_list(tags)


# ---------------------------------------------------------------------------------- snapshot
def take_snapshot(
    ctx_or_session: Any, plan: Plan, name: str | None = None, *, timeout: float = SNAPSHOT_TIMEOUT
) -> dict[str, Any]:
    """Take a manual snapshot of the plan's instance and wait until it is available.

    Returns {"snapshot", "arn", "instance", "region", "status", "created", "encrypted",
    "kms_key_id", "seconds"}.
    """
    ctx = _context(ctx_or_session, plan)
    _spec(plan)
    key = "operations/snapshot"
    token = current_key.set(key)
    try:
        item = _find_instance(ctx, plan, key)
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
            _check_identifier(name, "snapshot name", 255)
            if name
            else rds_name(identifier, "manual", _stamp(), max_length=255)
        )
        try:
            created = ctx.aws.client("rds").create_db_snapshot(
                DBInstanceIdentifier=identifier,
                DBSnapshotIdentifier=snapshot,
                Tags=_user_tags(plan, **{TAG_PLAN: plan.name, "provisioner:snapshot-of": rds_step.INSTANCE}),
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
            failed={"failed", "error", "deleted", None},
            timeout=timeout,
        )  # type: ignore[arg-type]
        return {
            "snapshot": snapshot,
            "arn": latest.get("DBSnapshotArn"),
            "instance": identifier,
            "region": ctx.region,
            "status": latest.get("Status"),
            "created": _iso(latest.get("SnapshotCreateTime")),
            "encrypted": latest.get("Encrypted"),
            "kms_key_id": latest.get("KmsKeyId"),
            "seconds": round(ctx.clock.now() - started, 1),
        }
    finally:
        current_key.reset(token)


# ----------------------------------------------------------------------------------- restore
def restore_to_time(
    ctx_or_session: Any,
    plan: Plan,
    when: datetime | None,
    region: str | None = None,
    as_name: str | None = None,
    *,
    subnet_group: str | None = None,
    security_group_ids: Sequence[str] | None = None,
    use_default_network: bool = False,
    timeout: float = CREATE_TIMEOUT,
) -> dict[str, Any]:
    """Restore the plan's database as of `when` (None: the latest restorable time) into a new
    instance `as_name` (default `<identifier>-restore-<UTC time>`), in the primary region or
    `region` (the DR region: from the replicated backups). Waits until it is available.

    Returns {"instance", "region", "arn", "status", "endpoint", "port", "restore_time",
    "source", "subnet_group", "security_group_ids", "parameter_group", "master_secret_arn",
    "multi_az", "seconds"}.
    """
    ctx = _context(ctx_or_session, plan)
    spec = _spec(plan)
    db = spec.database
    key = "operations/restore"
    token = current_key.set(key)
    try:
        primary = ctx.region or spec.region
        target = region or primary
        names = rds_step.names(plan)
        identifier = names["instance"]
        name = (
            _check_identifier(as_name, "DB instance name", 63) if as_name else rds_name(identifier, "restore", _stamp())
        )
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if when > datetime.now(UTC):
                raise PermanentError(f"{when.isoformat()} is in the future", key=key, hint="a past time, or `latest`")
        if _exists(ctx, key, target, name):
            raise PermanentError(
                f"a DB instance named {name} already exists in {target}",
                key=key,
                code="DBInstanceAlreadyExists",
                hint="choose another name with --as",
            )

        params: dict[str, Any] = {
            "TargetDBInstanceIdentifier": name,
            "DBInstanceClass": db.instance_class,
            "MultiAZ": db.multi_az,
            "PubliclyAccessible": False,
            # The plan's port (AWS would otherwise restore onto the source's; the security
            # group admits only the plan's).
            "Port": db.port,
            "StorageType": "gp3",
            "MaxAllocatedStorage": db.max_allocated_storage_gib,
            "EnableIAMDatabaseAuthentication": True,
            "EnableCloudwatchLogsExports": sorted(LOG_EXPORTS),
            "CopyTagsToSnapshot": True,
            "AutoMinorVersionUpgrade": True,
            "DeletionProtection": db.deletion_protection,
            "BackupRetentionPeriod": db.backup_retention_days,
            "PreferredBackupWindow": db.backup_window,
            "ManageMasterUserPassword": True,  # a new password, generated and kept by RDS
        }
        if target == primary:
            source, window, network = _primary_source(ctx, plan, key, primary, names)
        else:
            source, window, network = _dr_source(
                ctx, plan, key, primary, target, names, subnet_group, security_group_ids, use_default_network
            )
        if subnet_group and target == primary:
            network["DBSubnetGroupName"] = subnet_group
        if security_group_ids and target == primary:
            network["VpcSecurityGroupIds"] = list(security_group_ids)
        _check_window(key, when, window)
        params.update(source["params"])
        params.update(network)
        params["MasterUserSecretKmsKeyId"] = source["kms_key_id"]
        params["Tags"] = _user_tags(
            plan,
            **{
                TAG_RESTORED_FOR: plan.name,
                TAG_RESTORED_FROM: source["arn"],
                TAG_RESTORE_TIME: when.isoformat() if when else "latest",
                "Name": name,
            },
        )
        if when is None:
            params["UseLatestRestorableTime"] = True
        else:
            params["RestoreTime"] = when
        try:
            item = ctx.aws.client("rds", target).restore_db_instance_to_point_in_time(**params)["DBInstance"]
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidRestoreFault":
                raise PermanentError(error_message(exc), key=key, code=code, hint=_window_hint(window)) from exc
            if code == "DBInstanceAlreadyExists":
                raise PermanentError(
                    f"a DB instance named {name} already exists in {target}",
                    key=key,
                    code=code,
                    hint="choose another name with --as",
                ) from exc
            raise rds_error(exc, key) from exc
        ctx.progress(
            key,
            f"restoring {source['arn']} as of {when.isoformat() if when else 'the latest restorable time'} "
            f"into {name} in {target}",
        )
        assert ctx.clock is not None
        started = ctx.clock.now()
        item = _wait_available(ctx, key, target, name, timeout) or item
        endpoint = item.get("Endpoint") or {}
        return {
            "instance": name,
            "region": target,
            "arn": item.get("DBInstanceArn"),
            "status": item.get("DBInstanceStatus"),
            "endpoint": endpoint.get("Address"),
            "port": endpoint.get("Port"),
            "restore_time": when.isoformat() if when else "latest",
            "source": source["arn"],
            "subnet_group": (item.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
            or network.get("DBSubnetGroupName"),
            "security_group_ids": sorted(g["VpcSecurityGroupId"] for g in item.get("VpcSecurityGroups", [])),
            "parameter_group": network.get("DBParameterGroupName"),
            "master_secret_arn": (item.get("MasterUserSecret") or {}).get("SecretArn"),
            "multi_az": item.get("MultiAZ"),
            "seconds": round(ctx.clock.now() - started, 1),
        }
    finally:
        current_key.reset(token)


# ------------------------------------------------------------------------------------ drills
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
    ctx = _context(ctx_or_session, plan)
    spec = _spec(plan)
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
                    "created": _iso(created),
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
    ctx = _context(ctx_or_session, plan)
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
            timeout=timeout,  # type: ignore[arg-type]
            expected=DbInstance.delete_seconds,
        )
        return {"deleted": name, "region": drill["region"]}
    finally:
        current_key.reset(token)


def _exists(ctx: RunContext, key: str, region: str, identifier: str) -> bool:
    try:
        ctx.aws.client("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)
    except ClientError as exc:
        if error_code(exc) == "DBInstanceNotFound":
            return False
        raise rds_error(exc, key) from exc
    return True


def _primary_source(
    ctx: RunContext, plan: Plan, key: str, region: str, names: dict[str, str]
) -> tuple[dict[str, Any], tuple[Any, Any] | None, dict[str, Any]]:
    """The instance (or, once it is deleted, its retained automated backups) and its network."""
    item = _find_instance(ctx, plan, key, region)
    backups = _call(
        ctx, key, region, "describe_db_instance_automated_backups", DBInstanceIdentifier=names["instance"]
    ).get("DBInstanceAutomatedBackups", [])
    if item is not None:
        mine = [b for b in backups if b.get("DBInstanceArn") == item["DBInstanceArn"] and b.get("Status") == "active"]
        window = _window(mine[0]) if mine else (item.get("InstanceCreateTime"), item.get("LatestRestorableTime"))
        groups = [g["DBParameterGroupName"] for g in item.get("DBParameterGroups", [])]
        network = {
            "DBSubnetGroupName": (item.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in item.get("VpcSecurityGroups", [])],
            "DBParameterGroupName": groups[0] if groups else names["parameter_group"],
        }
        source = {
            "arn": item["DBInstanceArn"],
            "kms_key_id": item.get("KmsKeyId"),
            "params": {"SourceDBInstanceIdentifier": item["DBInstanceIdentifier"]},
        }
        return source, window, network
    retained = [b for b in backups if b.get("Status") == "retained" and b.get("Region") == region]
    if not retained:
        raise PermanentError(
            f"plan {plan.name} has no database and no retained backups in {region}",
            key=key,
            hint="restore from a final snapshot, or from the DR region with --region",
        )
    backup = max(retained, key=lambda b: str(b.get("InstanceCreateTime")))
    security_groups = _plan_security_groups(ctx, plan, region)
    network = {"DBSubnetGroupName": names["subnet_group"], "DBParameterGroupName": names["parameter_group"]}
    if security_groups:
        network["VpcSecurityGroupIds"] = security_groups
    source = {
        "arn": backup["DBInstanceAutomatedBackupsArn"],
        "kms_key_id": backup.get("KmsKeyId"),
        "params": {"SourceDBInstanceAutomatedBackupsArn": backup["DBInstanceAutomatedBackupsArn"]},
    }
    return source, _window(backup), network


def _dr_source(
    ctx: RunContext,
    plan: Plan,
    key: str,
    primary: str,
    region: str,
    names: dict[str, str],
    subnet_group: str | None,
    security_group_ids: Sequence[str] | None,
    use_default_network: bool,
) -> tuple[dict[str, Any], tuple[Any, Any] | None, dict[str, Any]]:
    """The replicated automated backups in `region`, and the network to restore into there."""
    partition = getattr(ctx.aws, "partition", "aws")
    source_arn = f"arn:{partition}:rds:{primary}:{ctx.aws.account_id}:db:{names['instance']}"
    backups = [
        b
        for b in _call(ctx, key, region, "describe_db_instance_automated_backups").get("DBInstanceAutomatedBackups", [])
        if b.get("DBInstanceArn") == source_arn
    ]
    usable = [b for b in backups if b.get("Status") in ("replicating", "retained")]
    if not usable:
        if any(b.get("Status") == "pending" for b in backups):
            raise PermanentError(
                f"the backups of {names['instance']} are still being replicated to {region} (pending)",
                key=key,
                hint="replication takes about 10 minutes to start (up to 45); try again then",
            )
        raise PermanentError(
            f"there are no replicated backups of {names['instance']} in {region}",
            key=key,
            hint="database.backup_replication must be on (and applied) for that DR region",
        )
    backup = sorted(usable, key=lambda b: (b.get("Status") != "replicating", str(b.get("InstanceCreateTime"))))[0]
    network: dict[str, Any] = {}
    group = subnet_group or (
        names["subnet_group"] if _subnet_group_exists(ctx, key, region, names["subnet_group"]) else None
    )
    security_groups = list(security_group_ids or []) or _plan_security_groups(ctx, plan, region)
    if group and security_groups:
        network.update(DBSubnetGroupName=group, VpcSecurityGroupIds=security_groups)
    elif not use_default_network:
        missing = " and ".join(
            w for w, have in (("a DB subnet group", group), ("a security group", security_groups)) if not have
        )
        raise PermanentError(
            f"{region} has no network for plan {plan.name}'s database ({missing} missing)",
            key=key,
            hint=(
                f"pass the DR network's subnet group and security groups, or restore into {region}'s default VPC "
                "(not publicly accessible, its default security group) by asking for the default network"
            ),
        )
    else:
        default_vpcs = ctx.aws.client("ec2", region).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
        if not default_vpcs.get("Vpcs"):
            # The organization's account baseline removes default VPCs (account_baseline.remove_default_vpcs).
            raise PermanentError(
                f"{region} has no default VPC to restore into (the account baseline removes them)",
                key=key,
                hint=(
                    f"pass the DR network's subnet group and security groups, or make a default VPC for the drill "
                    f"(`aws ec2 create-default-vpc --region {region}`; the next `apply organization` removes it again "
                    "once it is empty)"
                ),
            )
        ctx.progress(
            key, f"restoring into {region}'s default VPC with its default security group (not publicly accessible)"
        )
    network["DBParameterGroupName"] = _dr_parameter_group(ctx, plan, key, region, names)
    source = {
        "arn": backup["DBInstanceAutomatedBackupsArn"],
        "kms_key_id": backup.get("KmsKeyId"),
        "params": {"SourceDBInstanceAutomatedBackupsArn": backup["DBInstanceAutomatedBackupsArn"]},
    }
    return source, _window(backup), network


def _subnet_group_exists(ctx: RunContext, key: str, region: str, name: str) -> bool:
    try:
        ctx.aws.client("rds", region).describe_db_subnet_groups(DBSubnetGroupName=name)
    except ClientError as exc:
        if error_code(exc) == "DBSubnetGroupNotFoundFault":
            return False
        raise rds_error(exc, key) from exc
    return True


def _plan_security_groups(ctx: RunContext, plan: Plan, region: str) -> list[str]:
    """Security groups in `region` tagged as the plan's database group."""
    groups = ctx.aws.client("ec2", region).describe_security_groups(
        Filters=[
            {"Name": f"tag:{TAG_PLAN}", "Values": [plan.name]},
            {"Name": f"tag:{TAG_KEY}", "Values": [rds_step.SECURITY_GROUP]},
        ]
    )["SecurityGroups"]
    return sorted(g["GroupId"] for g in groups)


def _dr_parameter_group(ctx: RunContext, plan: Plan, key: str, region: str, names: dict[str, str]) -> str:
    """The plan's parameter group, copied to `region` (same name, family, parameters) if missing."""
    name, family = names["parameter_group"], names["family"]
    rds = ctx.aws.client("rds", region)
    try:
        existing = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    except ClientError as exc:
        if error_code(exc) != "DBParameterGroupNotFound":
            raise rds_error(exc, key) from exc
        existing = []
    for found in existing:
        if found["DBParameterGroupFamily"] != family:
            raise PermanentError(
                f"parameter group {name} in {region} is for {found['DBParameterGroupFamily']}, not {family}", key=key
            )
        return name
    _call(
        ctx,
        key,
        region,
        "create_db_parameter_group",
        DBParameterGroupName=name,
        DBParameterGroupFamily=family,
        Description=f"PostgreSQL of {plan.name}: TLS only, logging (DR copy)",
        Tags=_user_tags(plan, **{TAG_PLAN: plan.name, "provisioner:copy-of": rds_step.PARAMETER_GROUP}),
    )
    items = sorted(POSTGRES_PARAMETERS.items())
    for start in range(0, len(items), 20):
        _call(
            ctx,
            key,
            region,
            "modify_db_parameter_group",
            DBParameterGroupName=name,
            Parameters=[
                {
                    "ParameterName": n,
                    "ParameterValue": v,
                    "ApplyMethod": "pending-reboot" if n in STATIC else "immediate",
                }
                for n, v in items[start : start + 20]
            ],
        )
    ctx.progress(key, f"copied parameter group {name} to {region}")
    return name


def _window(backup: dict[str, Any]) -> tuple[Any, Any] | None:
    window = backup.get("RestoreWindow") or {}
    if not window.get("EarliestTime") or not window.get("LatestTime"):
        return None
    return window["EarliestTime"], window["LatestTime"]


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _check_window(key: str, when: datetime | None, window: tuple[Any, Any] | None) -> None:
    if when is None or window is None:
        return
    earliest, latest = _aware(window[0]), _aware(window[1])
    if (earliest and when < earliest) or (latest and when > latest):
        raise PermanentError(
            f"{when.isoformat()} is outside the restorable window",
            key=key,
            code="InvalidRestoreFault",
            hint=_window_hint(window),
        )


def _window_hint(window: tuple[Any, Any] | None) -> str:
    if not window:
        return "choose a time within the backup retention period, or `latest`"
    return f"choose a time from {_iso(window[0])} to {_iso(window[1])}, or `latest`"


def _iso(value: Any) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware else (str(value) if value is not None else None)


def _wait_available(ctx: RunContext, key: str, region: str, name: str, timeout: float) -> dict[str, Any]:
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
