"""The settings of rds:db-instance in one table (`SETTINGS`), one row per compared field.

A row says how discovery reads the field from DescribeDBInstances, what the plan wants, and
which CreateDBInstance and ModifyDBInstance parameters set it, and whether the field cannot
change in place or waits for the maintenance window. `instances.py` derives its `observe`,
`desired`, create parameters and modifications from it, so adding a setting is one row, not
an edit in four places that must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioner.steps.rds._rds import AtLeast, AtLeastVersion

if TYPE_CHECKING:
    from provisioner.engine import Refs
    from provisioner.steps.rds.instances import DbInstance

# The PostgreSQL logs exported to CloudWatch Logs (SPEC section 9).
LOG_EXPORTS = ["postgresql", "upgrade"]


@dataclass(frozen=True)
class Setting:
    """One compared setting of the instance, in one row: how discovery reads it from a
    described instance (`read(item, pending)`: modifications pending for the maintenance
    window count as made, they are as far as the plan is concerned), what the plan wants
    (`want(node, refs)`), the CreateDBInstance and ModifyDBInstance parameters that set it
    (None: set otherwise, or not at all), and whether it cannot change in place (the reason)
    or waits for the maintenance window unless applied immediately (`disruptive`)."""

    name: str
    read: Callable[[dict[str, Any], dict[str, Any]], Any]
    want: Callable[[DbInstance, Refs], Any]
    create: str | None = None
    modify: str | None = None
    immutable: str = ""
    disruptive: bool = False


def _log_exports(item: dict[str, Any], pending: dict[str, Any]) -> list[str]:
    exports = set(item.get("EnabledCloudwatchLogsExports") or [])
    pending_exports = pending.get("PendingCloudwatchLogsExports") or {}
    return sorted(
        (exports | set(pending_exports.get("LogTypesToEnable", []))) - set(pending_exports.get("LogTypesToDisable", []))
    )


def _parameter_group(item: dict[str, Any], pending: dict[str, Any]) -> str | None:
    groups = [g["DBParameterGroupName"] for g in item.get("DBParameterGroups", [])]
    return groups[0] if groups else None


def _security_groups(item: dict[str, Any], pending: dict[str, Any]) -> list[str]:
    return sorted(
        g["VpcSecurityGroupId"]
        for g in item.get("VpcSecurityGroups", [])
        if g.get("Status") in ("active", "adding", None)
    )


def _secret(item: dict[str, Any]) -> dict[str, Any]:
    return item.get("MasterUserSecret") or {}


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "engine",
        lambda i, p: i.get("Engine"),
        lambda n, r: "postgres",
        create="Engine",
        immutable="the engine can not change",
    ),
    Setting(
        "engine_version",
        lambda i, p: p.get("EngineVersion", i.get("EngineVersion")),
        lambda n, r: AtLeastVersion(n.database.engine_version),
        create="EngineVersion",
        modify="EngineVersion",
        disruptive=True,
    ),
    Setting(
        "instance_class",
        lambda i, p: p.get("DBInstanceClass", i.get("DBInstanceClass")),
        lambda n, r: n.database.instance_class,
        create="DBInstanceClass",
        modify="DBInstanceClass",
        disruptive=True,
    ),
    Setting(  # modified by `_modifications`: never below what storage autoscaling reached
        "allocated_storage_gib",
        lambda i, p: p.get("AllocatedStorage", i.get("AllocatedStorage")),
        lambda n, r: AtLeast(n.database.allocated_storage_gib),
        create="AllocatedStorage",
        disruptive=True,
    ),
    Setting(
        "max_allocated_storage_gib",
        lambda i, p: i.get("MaxAllocatedStorage"),
        lambda n, r: n.database.max_allocated_storage_gib,
        create="MaxAllocatedStorage",
        modify="MaxAllocatedStorage",
    ),
    Setting(
        "storage_type",
        lambda i, p: p.get("StorageType", i.get("StorageType")),
        lambda n, r: "gp3",
        create="StorageType",
        modify="StorageType",
        disruptive=True,
    ),
    Setting(
        "multi_az",
        lambda i, p: p.get("MultiAZ", i.get("MultiAZ")),
        lambda n, r: n.database.multi_az,
        create="MultiAZ",
        modify="MultiAZ",
        disruptive=True,
    ),
    Setting(
        "storage_encrypted",
        lambda i, p: bool(i.get("StorageEncrypted")),
        lambda n, r: True,
        create="StorageEncrypted",
        immutable="encryption can not be turned off or on in place",
    ),
    Setting(
        "kms_key_id",
        lambda i, p: i.get("KmsKeyId"),
        lambda n, r: r.get(n.kms_key, "arn"),
        create="KmsKeyId",
        immutable="the storage encryption key can not change in place",
    ),
    Setting(
        "publicly_accessible",
        lambda i, p: bool(i.get("PubliclyAccessible")),
        lambda n, r: False,
        create="PubliclyAccessible",
        modify="PubliclyAccessible",
    ),
    Setting(
        "iam_database_authentication",
        lambda i, p: bool(i.get("IAMDatabaseAuthenticationEnabled")),
        lambda n, r: True,
        create="EnableIAMDatabaseAuthentication",
        modify="EnableIAMDatabaseAuthentication",
    ),
    Setting(
        "copy_tags_to_snapshot",
        lambda i, p: bool(i.get("CopyTagsToSnapshot")),
        lambda n, r: True,
        create="CopyTagsToSnapshot",
        modify="CopyTagsToSnapshot",
    ),
    Setting(
        "auto_minor_version_upgrade",
        lambda i, p: bool(i.get("AutoMinorVersionUpgrade")),
        lambda n, r: True,
        create="AutoMinorVersionUpgrade",
        modify="AutoMinorVersionUpgrade",
    ),
    Setting(  # modified by `_modifications`: enable and disable what differs
        "log_exports",
        _log_exports,
        lambda n, r: sorted(LOG_EXPORTS),
        create="EnableCloudwatchLogsExports",
    ),
    Setting(
        "deletion_protection",
        lambda i, p: bool(i.get("DeletionProtection")),
        lambda n, r: n.database.deletion_protection,
        create="DeletionProtection",
        modify="DeletionProtection",
    ),
    Setting(
        "backup_retention_days",
        lambda i, p: p.get("BackupRetentionPeriod", i.get("BackupRetentionPeriod")),
        lambda n, r: n.database.backup_retention_days,
        create="BackupRetentionPeriod",
        modify="BackupRetentionPeriod",
    ),
    Setting(
        "backup_window",
        lambda i, p: i.get("PreferredBackupWindow"),
        lambda n, r: n.database.backup_window,
        create="PreferredBackupWindow",
        modify="PreferredBackupWindow",
    ),
    Setting(
        "maintenance_window",
        lambda i, p: str(i.get("PreferredMaintenanceWindow") or "").lower() or None,
        lambda n, r: n.database.maintenance_window,
        create="PreferredMaintenanceWindow",
        modify="PreferredMaintenanceWindow",
    ),
    Setting(
        "subnet_group",
        lambda i, p: (i.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        lambda n, r: r.get(n.subnet_group, "name"),
        create="DBSubnetGroupName",
        modify="DBSubnetGroupName",
    ),
    Setting(
        "parameter_group",
        _parameter_group,
        lambda n, r: r.get(n.parameter_group, "name"),
        create="DBParameterGroupName",
        modify="DBParameterGroupName",
    ),
    Setting(
        "security_group_ids",
        _security_groups,
        lambda n, r: [r.id(n.security_group)],
        create="VpcSecurityGroupIds",
        modify="VpcSecurityGroupIds",
    ),
    Setting(  # RDS generates the password and keeps it in Secrets Manager; none is sent
        "managed_master_password",
        lambda i, p: bool(_secret(i)),
        lambda n, r: True,
        create="ManageMasterUserPassword",
    ),
    Setting(
        "master_secret_kms_key_id",
        lambda i, p: _secret(i).get("KmsKeyId"),
        lambda n, r: r.get(n.kms_key, "arn"),
        create="MasterUserSecretKmsKeyId",
    ),
    Setting(
        "database_name",
        lambda i, p: i.get("DBName"),
        lambda n, r: n.database.database_name,
        create="DBName",
        immutable="the initial database name can not change",
    ),
    Setting(
        "master_username",
        lambda i, p: i.get("MasterUsername"),
        lambda n, r: n.database.master_username,
        create="MasterUsername",
        immutable="the master username can not change",
    ),
    Setting(  # RDS changes the port at once whatever ApplyImmediately says (and reboots)
        "port",
        lambda i, p: p.get("Port", (i.get("Endpoint") or {}).get("Port")),
        lambda n, r: n.database.port,
        create="Port",
        modify="DBPortNumber",
    ),
)
# Changes AWS makes in the maintenance window unless applied immediately.
DISRUPTIVE = frozenset(s.name for s in SETTINGS if s.disruptive)
IMMUTABLE = {s.name: s.immutable for s in SETTINGS if s.immutable}


def plain(value: Any) -> Any:
    """A desired value as an API parameter: `AtLeast` / `AtLeastVersion` as what they wrap."""
    if isinstance(value, AtLeast):
        return int(value)
    if isinstance(value, AtLeastVersion):
        return str(value)
    return value
