"""RDS state the sandbox keeps beside moto: automated-backup replications and retained
backups, DbiResourceIds, instance create times under latency, and the settings (latency, the
clock) the rest of the package reads through this module; plus what it patches into moto."""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Real AWS time x LATENCY_SCALE: 0 (the default) makes the replication `replicating` at once;
# the sandbox manager may set it (SPEC section 6: `sandbox start --latency SCALE`).
LATENCY_SCALE = 0.0
# latency-model.md, p50: automated backups replication -> REPLICATING; a (Multi-AZ)
# PostgreSQL instance create -> available (also a restore).
REPLICATION_PENDING_SECONDS = 600.0
INSTANCE_CREATE_SECONDS = 780.0


def now() -> datetime:
    """The sandbox's clock (tests move it instead of sleeping)."""
    return datetime.now(UTC)


class RdsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class AutomatedBackup:
    """One DBInstanceAutomatedBackup: a source instance's own (`replicated` False), or its
    replica in another region."""

    arn: str
    account: str
    region: str  # where this record lives
    source_arn: str
    source_region: str
    source: dict[str, Any]  # the instance's properties when last seen
    replicated: bool
    kms_key_id: str | None
    retention: int
    earliest: datetime
    started: datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    stopped: datetime | None = None

    def status(self) -> str:
        if self.stopped is not None:
            return "retained"
        if not self.replicated:
            return "active"
        ready = self.started + timedelta(seconds=REPLICATION_PENDING_SECONDS * LATENCY_SCALE)
        return "replicating" if now() >= ready else "pending"

    def window(self) -> tuple[datetime, datetime]:
        latest = self.stopped or now()
        if self.replicated:
            # Only what was copied after replication started (and became active) is restorable.
            ready = self.started + timedelta(seconds=REPLICATION_PENDING_SECONDS * LATENCY_SCALE)
            return max(self.earliest, ready), latest
        return self.earliest, latest


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.backups: dict[str, AutomatedBackup] = {}  # arn -> record
        self.dbi: dict[tuple[str, str, str], str] = {}  # (account, region, identifier) -> DbiResourceId
        self.created: dict[tuple[str, str, str], datetime] = {}  # when an instance was created

    def clear(self) -> None:
        with self.lock:
            self.backups.clear()
            self.dbi.clear()
            self.created.clear()


store = Store()


def state() -> list[Any]:
    """The containers `reset()` clears, for a sandbox snapshot (sandbox/snapshot.py)."""
    return [store.backups, store.dbi, store.created]


def reset() -> None:
    """Forget every replication, retained backup and pending modification (moto's reset
    drops the instances themselves)."""
    store.clear()


def patch_moto() -> None:
    """Each moto DBInstance reports the DbiResourceId this module assigns it (moto hard-codes
    one id for all), its status under latency, and the replication / pending fields this
    module keeps on it."""
    from moto.rds.models import DBInstance

    if getattr(DBInstance, "_sandbox_rds_patched", False):
        return

    def get_dbi(self: Any) -> str:
        key = (self.account_id, self.region, self.db_instance_identifier)
        with store.lock:
            return store.dbi.setdefault(key, f"db-{random_id(26).upper()}")

    def get_status(self: Any) -> str:
        status = str(self.__dict__.get("status", "available"))
        created = store.created.get((self.account_id, self.region, self.db_instance_identifier))
        if status == "available" and created is not None and LATENCY_SCALE > 0:
            if now() < created + timedelta(seconds=INSTANCE_CREATE_SECONDS * LATENCY_SCALE):
                return "creating"
        return status

    DBInstance.dbi_resource_id = property(get_dbi, lambda self, value: None)  # type: ignore[assignment]
    # moto's responses read DBInstanceStatus from this name before its own `status`.
    DBInstance.DBInstanceStatus = property(get_status)  # type: ignore[attr-defined]
    DBInstance.PendingModifiedValues = None  # type: ignore[attr-defined]
    DBInstance.DBInstanceAutomatedBackupsReplications = None  # type: ignore[attr-defined]
    DBInstance._sandbox_rds_patched = True  # type: ignore[attr-defined]


def backend(account: str, region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[account][region]


def database(account: str, region: str, identifier: str) -> Any:
    try:
        return backend(account, region).databases.get(identifier)
    except KeyError:
        return None


def forget_dbi(account: str, region: str, identifier: str) -> None:
    """A new instance under a reused identifier gets a new resource id (on first read)."""
    with store.lock:
        store.dbi.pop((account, region, identifier), None)
        store.created.pop((account, region, identifier), None)


def mark_created(account: str, region: str, identifier: str) -> None:
    with store.lock:
        store.created[(account, region, identifier)] = now()


def current_value(db: Any, name: str) -> Any:
    attribute = {
        "DBInstanceClass": "db_instance_class",
        "AllocatedStorage": "allocated_storage",
        "MultiAZ": "multi_az",
        "EngineVersion": "engine_version",
        "StorageType": "storage_type",
        "Iops": "iops",
        "StorageThroughput": "storage_throughput",
    }[name]
    return getattr(db, attribute, None)


def properties(db: Any) -> dict[str, Any]:
    """What a backup remembers of its instance (also after the instance is gone)."""
    subnet_group = getattr(db, "db_subnet_group", None)
    return {
        "DBInstanceArn": db.arn,
        "DBInstanceIdentifier": db.db_instance_identifier,
        "DbiResourceId": db.dbi_resource_id,
        "DBInstanceClass": db.db_instance_class,
        "Engine": db.engine,
        "EngineVersion": db.engine_version,
        "AllocatedStorage": db.allocated_storage,
        "StorageType": db.storage_type,
        "Port": db.port,
        "MasterUsername": db.master_username,
        "DBName": db.db_name,
        "AvailabilityZone": db.availability_zone,
        "VpcId": getattr(subnet_group, "vpc_id", None),
        "InstanceCreateTime": db.instance_create_time,
        "StorageEncrypted": bool(db.storage_encrypted),
        "KmsKeyId": db.kms_key_id,
        "IAMDatabaseAuthenticationEnabled": bool(db.enable_iam_database_authentication),
        "BackupRetentionPeriod": db.backup_retention_period,
        "PreferredBackupWindow": db.preferred_backup_window,
        "LicenseModel": db.license_model,
    }


def own_record(account: str, region: str, source: dict[str, Any]) -> AutomatedBackup:
    """The source region's automated backup of an instance (one stable ARN per instance)."""
    arn = f"arn:aws:rds:{region}:{account}:auto-backup:ab-{stable_id(source['DBInstanceArn'], str(source['InstanceCreateTime']))}"
    created = aware(source["InstanceCreateTime"])
    return AutomatedBackup(
        arn=arn,
        account=account,
        region=region,
        source_arn=source["DBInstanceArn"],
        source_region=region,
        source=source,
        replicated=False,
        kms_key_id=source.get("KmsKeyId"),
        retention=int(source.get("BackupRetentionPeriod") or 0),
        earliest=created,
        started=created,
    )


def records_in(account: str, region: str) -> list[AutomatedBackup]:
    """Every automated backup visible in a region: live instances' own, then kept ones."""
    out: list[AutomatedBackup] = []
    try:
        databases = list(backend(account, region).databases.values())
    except KeyError:
        databases = []
    with store.lock:
        for db in databases:
            if getattr(db, "backup_retention_period", 0) and getattr(db, "status", "") != "deleting":
                out.append(own_record(account, region, properties(db)))
        for record in store.backups.values():
            if record.account == account and record.region == region:
                db = database(account, record.source_region, record.source.get("DBInstanceIdentifier", ""))
                if db is not None and record.stopped is None:
                    record.source = properties(db)
                out.append(record)
    return out


def sync_replications(account: str, source_region: str, identifier: str) -> None:
    """The source instance lists its active replications (DescribeDBInstances)."""
    db = database(account, source_region, identifier)
    if db is None:
        return
    arns = [r.arn for r in store.backups.values() if r.replicated and r.source_arn == db.arn and r.stopped is None]
    db.DBInstanceAutomatedBackupsReplications = [{"DBInstanceAutomatedBackupsArn": a} for a in arns] or None


def run_maintenance(account: str = "123456789012", region: str = "us-east-1", identifier: str | None = None) -> int:
    """The maintenance window arrives: apply the pending modifications of the region's instances
    (all, or one). Returns how many instances changed. For tests and `sandbox` tooling."""
    changed = 0
    try:
        databases = list(backend(account, region).databases.values())
    except KeyError:
        return 0
    attributes = {
        "DBInstanceClass": "db_instance_class",
        "AllocatedStorage": "allocated_storage",
        "MultiAZ": "multi_az",
        "EngineVersion": "engine_version",
        "StorageType": "storage_type",
        "Iops": "iops",
        "StorageThroughput": "storage_throughput",
    }
    for db in databases:
        if identifier and db.db_instance_identifier != identifier:
            continue
        pending = getattr(db, "PendingModifiedValues", None)
        if not pending:
            continue
        for name, value in pending.items():
            setattr(db, attributes[name], value)
        db.PendingModifiedValues = None
        changed += 1
    return changed


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def random_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stable_id(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:26]
