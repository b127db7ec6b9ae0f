"""`restore_to_time`: the plan's database as it was at a moment, restored into a new instance,
in the primary region (from its automated backups) or the DR region (from the replicated
ones, into a network prepared there or, if asked, the default VPC). See the package docstring."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from provisioner.aws.errors import ClientError, error_code, error_message
from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import PermanentError, RunContext
from provisioner.engine.context import current_key
from provisioner.operations.rds.common import (
    TAG_RESTORE_TIME,
    TAG_RESTORED_FOR,
    TAG_RESTORED_FROM,
    as_aware,
    check_identifier,
    environment_spec,
    exists,
    find_instance,
    iso_time,
    plan_context,
    rds_call,
    restore_window,
    stamp,
    user_tags,
    wait_available,
)
from provisioner.planfile import Plan
from provisioner.steps import rds as rds_step
from provisioner.steps.rds import rds_error, rds_name
from provisioner.steps.rds.instances import CREATE_TIMEOUT, LOG_EXPORTS
from provisioner.steps.rds.parameter_groups import POSTGRES_PARAMETERS, STATIC


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
    ctx = plan_context(ctx_or_session, plan)
    spec = environment_spec(plan)
    db = spec.database
    key = "operations/restore"
    token = current_key.set(key)
    try:
        primary = ctx.region or spec.region
        target = region or primary
        names = rds_step.names(plan)
        identifier = names["instance"]
        name = (
            check_identifier(as_name, "DB instance name", 63) if as_name else rds_name(identifier, "restore", stamp())
        )
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if when > datetime.now(UTC):
                raise PermanentError(f"{when.isoformat()} is in the future", key=key, hint="a past time, or `latest`")
        if exists(ctx, key, target, "instance", name):
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
        params["Tags"] = user_tags(
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
        item = wait_available(ctx, key, target, name, timeout) or item
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


def _primary_source(
    ctx: RunContext, plan: Plan, key: str, region: str, names: dict[str, str]
) -> tuple[dict[str, Any], tuple[Any, Any] | None, dict[str, Any]]:
    """The instance (or, once it is deleted, its retained automated backups) and its network."""
    item = find_instance(ctx, plan, key, region)
    backups = rds_call(
        ctx, key, region, "describe_db_instance_automated_backups", DBInstanceIdentifier=names["instance"]
    ).get("DBInstanceAutomatedBackups", [])
    if item is not None:
        mine = [b for b in backups if b.get("DBInstanceArn") == item["DBInstanceArn"] and b.get("Status") == "active"]
        window = restore_window(mine[0]) if mine else (item.get("InstanceCreateTime"), item.get("LatestRestorableTime"))
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
    return source, restore_window(backup), network


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
        for b in rds_call(ctx, key, region, "describe_db_instance_automated_backups").get(
            "DBInstanceAutomatedBackups", []
        )
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
        names["subnet_group"] if exists(ctx, key, region, "subnet group", names["subnet_group"]) else None
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
    return source, restore_window(backup), network


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
    rds_call(
        ctx,
        key,
        region,
        "create_db_parameter_group",
        DBParameterGroupName=name,
        DBParameterGroupFamily=family,
        Description=f"PostgreSQL of {plan.name}: TLS only, logging (DR copy)",
        Tags=user_tags(plan, **{TAG_PLAN: plan.name, "provisioner:copy-of": rds_step.PARAMETER_GROUP}),
    )
    items = sorted(POSTGRES_PARAMETERS.items())
    for start in range(0, len(items), 20):
        rds_call(
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


def _check_window(key: str, when: datetime | None, window: tuple[Any, Any] | None) -> None:
    if when is None or window is None:
        return
    earliest, latest = as_aware(window[0]), as_aware(window[1])
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
    return f"choose a time from {iso_time(window[0])} to {iso_time(window[1])}, or `latest`"
