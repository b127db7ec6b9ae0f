"""The sandbox's RDS: what moto 5.2 lacks or gets wrong for the rds step, made to act like AWS.

A WSGI layer in front of moto that recognises RDS calls (SigV4 credential scope `/rds/`, the
query protocol's `Action` form field) and:

- answers `StartDBInstanceAutomatedBackupsReplication` / `StopDBInstanceAutomatedBackupsReplication`
  (called in the destination region, as on AWS) and `DescribeDBInstanceAutomatedBackups` (both
  regions: the source's `active` backup and the destination's replicated one, `pending` for the
  latency model's p50 600 s x `LATENCY_SCALE`, then `replicating`; `retained` once stopped or
  its source is deleted), and shows the replication on the source instance
  (`DBInstanceAutomatedBackupsReplications` in DescribeDBInstances);
- `RestoreDBInstanceToPointInTime`: validates `RestoreTime` against the backup's restorable
  window (moto ignores it) and restores from the replicated backup in the DR region
  (`SourceDBInstanceAutomatedBackupsArn`), which moto cannot; the new instance takes only the
  tags given (moto copies the source's, ownership tags included);
- `ModifyDBInstance` `DBPortNumber` changes the port at once, as AWS does whatever
  `ApplyImmediately` says (moto ignores it);
- `ModifyDBInstance` with `ApplyImmediately` false: the changes AWS defers to the maintenance
  window (class, storage, Multi-AZ, engine version, ...) go to `PendingModifiedValues` instead
  of being applied at once; a later call with `ApplyImmediately` true applies them all, as on
  AWS (moto always applies at once). `run_maintenance()` plays the window arriving;
- `CreateDBInstance` / `ModifyDBInstance`: PostgreSQL engine versions and instance classes are
  checked as RDS does (moto accepts `99.1` and `db.foo.bar`), and each instance gets its own
  `DbiResourceId` (moto gives every instance the same one);
- `DescribeDBParameterGroups` for a name that does not exist answers DBParameterGroupNotFound,
  as AWS does (moto answers an empty list);
- with `LATENCY_SCALE` above 0, a new or restored instance is `creating` for the latency
  model's p50 (780 s) x scale, and refuses ModifyDBInstance and backup replication meanwhile,
  as AWS does (moto makes it `available` at once).

Responses are written from botocore's RDS service model (structure member order, list member
names, the 2014-10-31 namespace), so boto3 parses them exactly as it parses AWS's.
Everything else passes through to moto untouched.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from botocore import xform_name

from provisioner.sandbox.wsgi import call_app, credential_scope, read_body, request_account

# Real AWS time x LATENCY_SCALE: 0 (the default) makes the replication `replicating` at once;
# the sandbox manager may set it (SPEC section 6: `sandbox start --latency SCALE`).
LATENCY_SCALE = 0.0
# latency-model.md, p50: automated backups replication -> REPLICATING; a (Multi-AZ)
# PostgreSQL instance create -> available (also a restore).
REPLICATION_PENDING_SECONDS = 600.0
INSTANCE_CREATE_SECONDS = 780.0

NAMESPACE = "http://rds.amazonaws.com/doc/2014-10-31/"

# ModifyDBInstance settings AWS applies in the next maintenance window unless ApplyImmediately
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.DBInstance.Modifying.html).
# The rest (backup retention between non-zero values, windows, deletion protection, log
# exports, IAM auth, copy tags, max storage, security groups) apply at once either way.
DEFERRED: dict[str, Callable[[str], Any]] = {
    "DBInstanceClass": str,
    "AllocatedStorage": int,
    "MultiAZ": lambda v: str(v).lower() == "true",
    "EngineVersion": str,
    "StorageType": str,
    "Iops": int,
    "StorageThroughput": int,
}

# PostgreSQL versions RDS offers (majors in standard support and their minor releases).
POSTGRES_MINORS = {14: range(1, 21), 15: range(2, 16), 16: range(1, 12), 17: range(1, 8), 18: range(1, 2)}
INSTANCE_FAMILIES = {
    "t3",
    "t4g",
    "m5",
    "m5d",
    "m6g",
    "m6gd",
    "m6i",
    "m6id",
    "m6in",
    "m6idn",
    "m7g",
    "m7gd",
    "m7i",
    "m8g",
    "r5",
    "r5b",
    "r5d",
    "r6g",
    "r6gd",
    "r6i",
    "r6id",
    "r6in",
    "r6idn",
    "r7g",
    "r7gd",
    "r7i",
    "r8g",
    "x2g",
    "x2idn",
    "x2iedn",
    "c6gd",
    "z1d",
}
INSTANCE_SIZES = {
    "micro",
    "small",
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "32xlarge",
    "48xlarge",
}


HANDLED = {
    "StartDBInstanceAutomatedBackupsReplication",
    "StopDBInstanceAutomatedBackupsReplication",
    "DescribeDBInstanceAutomatedBackups",
    "RestoreDBInstanceToPointInTime",
    "ModifyDBInstance",
    "CreateDBInstance",
    "DeleteDBInstance",
    "DescribeDBParameterGroups",
}


def _now() -> datetime:
    """The sandbox's clock (tests move it instead of sleeping)."""
    return datetime.now(UTC)


class RdsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# ----------------------------------------------------------------------------------- state
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
        return "replicating" if _now() >= ready else "pending"

    def window(self) -> tuple[datetime, datetime]:
        latest = self.stopped or _now()
        if self.replicated:
            # Only what was copied after replication started (and became active) is restorable.
            ready = self.started + timedelta(seconds=REPLICATION_PENDING_SECONDS * LATENCY_SCALE)
            return max(self.earliest, ready), latest
        return self.earliest, latest


class _State:
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


_state = _State()


def reset() -> None:
    """Forget every replication, retained backup and pending modification (moto's reset
    drops the instances themselves)."""
    _state.clear()


# ------------------------------------------------------------------------------- WSGI layer
def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    _patch_moto()
    return RdsApi(app)


class RdsApi:
    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = credential_scope(environ)
        if not scope or scope.service != "rds" or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        body = read_body(environ)
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        params = dict(pairs)
        action = params.get("Action", "")
        if action not in HANDLED:
            return self.app(environ, start_response)
        request = _Request(
            self.app,
            environ,
            pairs,
            params,
            account=request_account(environ, scope.access_key),
            region=scope.region,
        )
        try:
            status, headers, payload = getattr(self, f"_{xform_name(action)}")(request)
        except RdsError as exc:
            status, headers, payload = _error(exc)
        start_response(
            status,
            [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(payload)))],
        )
        return [payload]

    # -- automated backups replication ------------------------------------------------------
    def _start_db_instance_automated_backups_replication(self, request: _Request) -> _Response:
        source_arn = request.params.get("SourceDBInstanceArn", "")
        source_region, identifier = _parse_db_arn(source_arn)
        if source_region == request.region:
            raise RdsError(
                "InvalidParameterValue",
                "The source DB instance must be in a different AWS Region than the replicated backups.",
            )
        db = _database(request.account, source_region, identifier)
        if db is None:
            raise RdsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
        if not getattr(db, "backup_retention_period", 0):
            raise RdsError("InvalidDBInstanceState", f"Automated backups are not enabled for DB instance {identifier}.")
        if db.DBInstanceStatus != "available":
            raise RdsError(
                "InvalidDBInstanceState", f"DB instance {identifier} is {db.DBInstanceStatus}, not available."
            )
        kms_key = request.params.get("KmsKeyId")
        if getattr(db, "storage_encrypted", False) and not kms_key:
            raise RdsError(
                "InvalidParameterCombination",
                "KmsKeyId is required to replicate the automated backups of an encrypted DB instance.",
            )
        if kms_key:
            kms_key = _kms_arn(request.account, request.region, kms_key)
        retention = int(request.params.get("BackupRetentionPeriod") or db.backup_retention_period)
        with _state.lock:
            for record in _state.backups.values():
                if record.replicated and record.source_arn == db.arn and record.stopped is None:
                    raise RdsError(
                        "InvalidDBInstanceAutomatedBackupState",
                        f"Automated backups of DB instance {identifier} are already being replicated to {record.region}.",
                    )
            now = _now()
            record = AutomatedBackup(
                arn=f"arn:aws:rds:{request.region}:{request.account}:auto-backup:ab-{_random_id(26)}",
                account=request.account,
                region=request.region,
                source_arn=db.arn,
                source_region=source_region,
                source=_properties(db),
                replicated=True,
                kms_key_id=kms_key,
                retention=retention,
                earliest=now,
                started=now,
                tags=_tags(request.params, "Tags"),
            )
            _state.backups[record.arn] = record
            _sync_replications(request.account, source_region, identifier)
        return _ok(request.action, {"DBInstanceAutomatedBackup": _backup_item(record)})

    def _stop_db_instance_automated_backups_replication(self, request: _Request) -> _Response:
        source_arn = request.params.get("SourceDBInstanceArn", "")
        source_region, identifier = _parse_db_arn(source_arn)
        with _state.lock:
            active = [
                r
                for r in _state.backups.values()
                if r.replicated and r.region == request.region and r.source_arn == source_arn and r.stopped is None
            ]
            if not active:
                if _database(request.account, source_region, identifier) is None:
                    raise RdsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
                raise RdsError(
                    "InvalidDBInstanceState",
                    f"Automated backups of DB instance {identifier} are not being replicated to {request.region}.",
                )
            record = active[0]
            record.stopped = _now()
            _sync_replications(request.account, source_region, identifier)
        return _ok(request.action, {"DBInstanceAutomatedBackup": _backup_item(record)})

    def _describe_db_instance_automated_backups(self, request: _Request) -> _Response:
        records = _records(request.account, request.region)
        params = request.params
        wanted_arn = params.get("DBInstanceAutomatedBackupsArn")
        if wanted_arn:
            records = [r for r in records if r.arn == wanted_arn]
            if not records:
                raise RdsError("DBInstanceAutomatedBackupNotFound", f"Automated backup {wanted_arn} not found.", 404)
        if params.get("DBInstanceIdentifier"):
            records = [
                r for r in records if r.source.get("DBInstanceIdentifier") == params["DBInstanceIdentifier"].lower()
            ]
        if params.get("DbiResourceId"):
            records = [r for r in records if r.source.get("DbiResourceId") == params["DbiResourceId"]]
        for name, values in _filters(params).items():
            pick = {
                "status": lambda r: r.status(),
                "db-instance-id": lambda r: r.source.get("DBInstanceIdentifier"),
                "dbi-resource-id": lambda r: r.source.get("DbiResourceId"),
            }.get(name)
            if pick is None:
                raise RdsError("InvalidParameterValue", f"Unrecognized filter name: {name}")
            records = [r for r in records if pick(r) in values]
        return _ok(request.action, {"DBInstanceAutomatedBackups": [_backup_item(r) for r in records]})

    # -- restore -----------------------------------------------------------------------------
    def _restore_db_instance_to_point_in_time(self, request: _Request) -> _Response:
        params = request.params
        target = (params.get("TargetDBInstanceIdentifier") or "").lower()
        if _database(request.account, request.region, target) is not None:
            raise RdsError("DBInstanceAlreadyExists", "DB instance already exists")
        source, record = self._restore_source(request)
        earliest, latest = record.window() if record else (_aware(source["InstanceCreateTime"]), _now())
        if params.get("RestoreTime") and params.get("UseLatestRestorableTime", "").lower() == "true":
            raise RdsError(
                "InvalidParameterCombination", "Cannot specify both RestoreTime and UseLatestRestorableTime."
            )
        if params.get("RestoreTime"):
            when = _parse_time(params["RestoreTime"])
            if not earliest <= when <= latest:
                raise RdsError(
                    "InvalidRestoreFault",
                    (
                        f"The restore time {when.isoformat()} is outside the restorable window "
                        f"{earliest.isoformat()} to {latest.isoformat()}."
                    ),
                )
        elif params.get("UseLatestRestorableTime", "").lower() != "true":
            raise RdsError("InvalidParameterCombination", "Specify RestoreTime or UseLatestRestorableTime.")
        # Build the instance as a CreateDBInstance moto can make: the source's settings, the
        # request's overrides, the tags given (not the source's).
        create: list[tuple[str, str]] = [
            ("Action", "CreateDBInstance"),
            ("Version", "2014-10-31"),
            ("DBInstanceIdentifier", target),
        ]
        inherited = {
            "DBInstanceClass": source.get("DBInstanceClass"),
            "Engine": source.get("Engine"),
            "EngineVersion": source.get("EngineVersion"),
            "AllocatedStorage": source.get("AllocatedStorage"),
            "StorageType": source.get("StorageType"),
            "MasterUsername": source.get("MasterUsername"),
            "DBName": source.get("DBName"),
            "Port": source.get("Port"),
            "BackupRetentionPeriod": source.get("BackupRetentionPeriod"),
            "PreferredBackupWindow": source.get("PreferredBackupWindow"),
            "StorageEncrypted": source.get("StorageEncrypted"),
            # Cross-region: the replica's key; same region: the source's.
            "KmsKeyId": (record.kms_key_id if record and record.replicated else source.get("KmsKeyId")),
        }
        for name, value in inherited.items():
            if value is not None and name not in params:
                create.append((name, _form_value(value)))
        passthrough = {
            "DBInstanceClass",
            "Port",
            "AvailabilityZone",
            "DBSubnetGroupName",
            "MultiAZ",
            "PubliclyAccessible",
            "AutoMinorVersionUpgrade",
            "DBName",
            "Iops",
            "StorageThroughput",
            "CopyTagsToSnapshot",
            "StorageType",
            "EnableIAMDatabaseAuthentication",
            "DBParameterGroupName",
            "DeletionProtection",
            "MaxAllocatedStorage",
            "AllocatedStorage",
            "BackupRetentionPeriod",
            "PreferredBackupWindow",
            "ManageMasterUserPassword",
            "MasterUserSecretKmsKeyId",
        }
        for name, value in request.pairs:
            base = name.split(".", 1)[0]
            if base in passthrough or base in ("VpcSecurityGroupIds", "EnableCloudwatchLogsExports", "Tags"):
                create.append((name, value))
        if params.get("ManageMasterUserPassword", "").lower() != "true":
            # The restored instance keeps the source's password, which is not ours to know.
            create.append(("MasterUserPassword", _random_id(24)))
        _forget_dbi(request.account, request.region, target)
        _mark_created(request.account, request.region, target)
        status, headers, payload = request.forward(create)
        if status.startswith("200"):
            payload = payload.replace(b"CreateDBInstanceResponse", b"RestoreDBInstanceToPointInTimeResponse")
            payload = payload.replace(b"CreateDBInstanceResult", b"RestoreDBInstanceToPointInTimeResult")
        return status, headers, payload

    def _restore_source(self, request: _Request) -> tuple[dict[str, Any], AutomatedBackup | None]:
        params = request.params
        backup_arn = params.get("SourceDBInstanceAutomatedBackupsArn")
        if backup_arn:
            with _state.lock:
                record = next((r for r in _records(request.account, request.region) if r.arn == backup_arn), None)
            if record is None:
                raise RdsError(
                    "DBInstanceAutomatedBackupNotFound",
                    f"Automated backup {backup_arn} not found in {request.region}.",
                    404,
                )
            if record.status() == "pending":
                raise RdsError(
                    "InvalidDBInstanceAutomatedBackupState",
                    f"Automated backup {backup_arn} is still pending replication.",
                )
            return record.source, record
        identifier = (params.get("SourceDBInstanceIdentifier") or "").lower()
        if params.get("SourceDbiResourceId"):
            records = [
                r
                for r in _records(request.account, request.region)
                if r.source.get("DbiResourceId") == params["SourceDbiResourceId"]
            ]
            if not records:
                raise RdsError(
                    "DBInstanceNotFound", f"No DB instance with resource id {params['SourceDbiResourceId']}.", 404
                )
            return records[0].source, records[0]
        db = _database(request.account, request.region, identifier)
        if db is None:
            raise RdsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
        if not getattr(db, "backup_retention_period", 0):
            raise RdsError("PointInTimeRestoreNotEnabled", f"Automated backups are off for {identifier}.")
        return _properties(db), None

    # -- instances -------------------------------------------------------------------------
    def _create_db_instance(self, request: _Request) -> _Response:
        params = request.params
        _validate_engine(params.get("Engine", ""), params.get("EngineVersion"), params.get("DBInstanceClass"))
        identifier = params.get("DBInstanceIdentifier", "").lower()
        new = _database(request.account, request.region, identifier) is None
        if new:
            _forget_dbi(request.account, request.region, identifier)
            _mark_created(request.account, request.region, identifier)
        response = request.forward(request.pairs)
        if new and not response[0].startswith("200"):
            _forget_dbi(request.account, request.region, identifier)
        return response

    def _modify_db_instance(self, request: _Request) -> _Response:
        identifier = request.params.get("DBInstanceIdentifier", "").lower()
        db = _database(request.account, request.region, identifier)
        if db is None:
            return request.forward(request.pairs)
        _validate_engine(db.engine, request.params.get("EngineVersion"), request.params.get("DBInstanceClass"))
        if db.DBInstanceStatus != "available":
            raise RdsError(
                "InvalidDBInstanceState", f"Database instance is not in available state ({db.DBInstanceStatus})."
            )
        immediately = request.params.get("ApplyImmediately", "").lower() == "true"
        pending: dict[str, Any] = dict(getattr(db, "PendingModifiedValues", None) or {})
        pairs: list[tuple[str, str]] = []
        if immediately:
            # AWS applies every pending modification along with this one.
            given = {name for name, _ in request.pairs}
            pairs = list(request.pairs) + [(k, _form_value(v)) for k, v in pending.items() if k not in given]
            pending = {}
        else:
            for name, value in request.pairs:
                if name in DEFERRED:
                    converted = DEFERRED[name](value)
                    current = _current(db, name)
                    if converted == current:
                        pending.pop(name, None)
                    else:
                        pending[name] = converted
                else:
                    pairs.append((name, value))
        before = getattr(db, "PendingModifiedValues", None)
        db.PendingModifiedValues = pending or None  # moto writes its response from the object
        port_before = db.port
        if request.params.get("DBPortNumber"):
            # AWS changes the port at once whatever ApplyImmediately says; moto ignores DBPortNumber.
            port = int(request.params["DBPortNumber"])
            if not 1150 <= port <= 65535:
                raise RdsError(
                    "InvalidParameterValue", f"Invalid port {port}: the port must be between 1150 and 65535."
                )
            db.port = port
            pairs = [(k, v) for k, v in pairs if k != "DBPortNumber"]
        status, headers, payload = request.forward(pairs)
        if not status.startswith("200"):
            db.PendingModifiedValues = before
            db.port = port_before
        return status, headers, payload

    def _delete_db_instance(self, request: _Request) -> _Response:
        identifier = request.params.get("DBInstanceIdentifier", "").lower()
        db = _database(request.account, request.region, identifier)
        seen = _properties(db) if db is not None else None
        status, headers, payload = request.forward(request.pairs)
        if status.startswith("200") and seen is not None:
            now = _now()
            with _state.lock:
                for record in _state.backups.values():
                    if record.source_arn == seen["DBInstanceArn"] and record.stopped is None:
                        record.source = seen
                        record.stopped = now  # replicas are retained, replication ends
                if request.params.get("DeleteAutomatedBackups", "true").lower() == "false" and seen.get(
                    "BackupRetentionPeriod"
                ):
                    retained = _own_record(request.account, request.region, seen)
                    retained.stopped = now
                    _state.backups[retained.arn] = retained
        return status, headers, payload

    # -- groups ------------------------------------------------------------------------------
    def _describe_db_parameter_groups(self, request: _Request) -> _Response:
        # AWS answers DBParameterGroupNotFound for a named group that does not exist (moto: []).
        name = request.params.get("DBParameterGroupName")
        if name and not name.startswith("default."):
            try:
                groups = _backend(request.account, request.region).db_parameter_groups
            except KeyError:
                groups = {}
            if name not in groups:
                raise RdsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
        return request.forward(request.pairs)


_Response = tuple[str, list[tuple[str, str]], bytes]


class _Request:
    def __init__(
        self,
        app: Callable[..., Any],
        environ: dict[str, Any],
        pairs: list[tuple[str, str]],
        params: dict[str, str],
        account: str,
        region: str,
    ):
        self.app, self.environ, self.pairs, self.params = app, environ, pairs, params
        self.account, self.region = account, region
        self.action = params.get("Action", "")

    def forward(self, pairs: list[tuple[str, str]]) -> _Response:
        """Send (possibly rewritten) form fields on to moto and collect its answer."""
        return call_app(self.app, self.environ, urlencode(pairs).encode())


# ------------------------------------------------------------------------------- moto access
def _patch_moto() -> None:
    """Each moto DBInstance reports the DbiResourceId this module assigns it (moto hard-codes
    one id for all), its status under latency, and the replication / pending fields this
    module keeps on it."""
    from moto.rds.models import DBInstance

    if getattr(DBInstance, "_sandbox_rds_patched", False):
        return

    def get_dbi(self: Any) -> str:
        key = (self.account_id, self.region, self.db_instance_identifier)
        with _state.lock:
            return _state.dbi.setdefault(key, f"db-{_random_id(26).upper()}")

    def get_status(self: Any) -> str:
        status = str(self.__dict__.get("status", "available"))
        created = _state.created.get((self.account_id, self.region, self.db_instance_identifier))
        if status == "available" and created is not None and LATENCY_SCALE > 0:
            if _now() < created + timedelta(seconds=INSTANCE_CREATE_SECONDS * LATENCY_SCALE):
                return "creating"
        return status

    DBInstance.dbi_resource_id = property(get_dbi, lambda self, value: None)  # type: ignore[assignment]
    # moto's responses read DBInstanceStatus from this name before its own `status`.
    DBInstance.DBInstanceStatus = property(get_status)  # type: ignore[attr-defined]
    DBInstance.PendingModifiedValues = None  # type: ignore[attr-defined]
    DBInstance.DBInstanceAutomatedBackupsReplications = None  # type: ignore[attr-defined]
    DBInstance._sandbox_rds_patched = True  # type: ignore[attr-defined]


def _backend(account: str, region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[account][region]


def _database(account: str, region: str, identifier: str) -> Any:
    try:
        return _backend(account, region).databases.get(identifier)
    except KeyError:
        return None


def _forget_dbi(account: str, region: str, identifier: str) -> None:
    """A new instance under a reused identifier gets a new resource id (on first read)."""
    with _state.lock:
        _state.dbi.pop((account, region, identifier), None)
        _state.created.pop((account, region, identifier), None)


def _mark_created(account: str, region: str, identifier: str) -> None:
    with _state.lock:
        _state.created[(account, region, identifier)] = _now()


def _current(db: Any, name: str) -> Any:
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


def _properties(db: Any) -> dict[str, Any]:
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


def _own_record(account: str, region: str, source: dict[str, Any]) -> AutomatedBackup:
    """The source region's automated backup of an instance (one stable ARN per instance)."""
    arn = f"arn:aws:rds:{region}:{account}:auto-backup:ab-{_stable_id(source['DBInstanceArn'], str(source['InstanceCreateTime']))}"
    created = _aware(source["InstanceCreateTime"])
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


def _records(account: str, region: str) -> list[AutomatedBackup]:
    """Every automated backup visible in a region: live instances' own, then kept ones."""
    out: list[AutomatedBackup] = []
    try:
        databases = list(_backend(account, region).databases.values())
    except KeyError:
        databases = []
    with _state.lock:
        for db in databases:
            if getattr(db, "backup_retention_period", 0) and getattr(db, "status", "") != "deleting":
                out.append(_own_record(account, region, _properties(db)))
        for record in _state.backups.values():
            if record.account == account and record.region == region:
                db = _database(account, record.source_region, record.source.get("DBInstanceIdentifier", ""))
                if db is not None and record.stopped is None:
                    record.source = _properties(db)
                out.append(record)
    return out


def _sync_replications(account: str, source_region: str, identifier: str) -> None:
    """The source instance lists its active replications (DescribeDBInstances)."""
    db = _database(account, source_region, identifier)
    if db is None:
        return
    arns = [r.arn for r in _state.backups.values() if r.replicated and r.source_arn == db.arn and r.stopped is None]
    db.DBInstanceAutomatedBackupsReplications = [{"DBInstanceAutomatedBackupsArn": a} for a in arns] or None


def _backup_item(record: AutomatedBackup) -> dict[str, Any]:
    source = record.source
    earliest, latest = record.window()
    item: dict[str, Any] = {
        "DBInstanceArn": record.source_arn,
        "DbiResourceId": source.get("DbiResourceId"),
        "Region": record.source_region,
        "DBInstanceIdentifier": source.get("DBInstanceIdentifier"),
        "RestoreWindow": {"EarliestTime": earliest, "LatestTime": latest} if record.status() != "pending" else None,
        "AllocatedStorage": source.get("AllocatedStorage"),
        "Status": record.status(),
        "Port": source.get("Port"),
        "AvailabilityZone": None if record.replicated else source.get("AvailabilityZone"),
        "VpcId": None if record.replicated else source.get("VpcId"),
        "InstanceCreateTime": source.get("InstanceCreateTime"),
        "MasterUsername": source.get("MasterUsername"),
        "Engine": source.get("Engine"),
        "EngineVersion": source.get("EngineVersion"),
        "LicenseModel": source.get("LicenseModel"),
        "Encrypted": source.get("StorageEncrypted"),
        "StorageType": source.get("StorageType"),
        "KmsKeyId": record.kms_key_id,
        "IAMDatabaseAuthenticationEnabled": source.get("IAMDatabaseAuthenticationEnabled"),
        "BackupRetentionPeriod": record.retention,
        "PreferredBackupWindow": source.get("PreferredBackupWindow"),
        "DBInstanceAutomatedBackupsArn": record.arn,
        "TagList": record.tags or None,
    }
    if not record.replicated:
        replicas = [
            r.arn
            for r in _state.backups.values()
            if r.replicated and r.source_arn == record.source_arn and r.stopped is None
        ]
        item["DBInstanceAutomatedBackupsReplications"] = [
            {"DBInstanceAutomatedBackupsArn": a} for a in replicas
        ] or None
    return item


def _kms_arn(account: str, region: str, key_id: str) -> str:
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[account][region].describe_key(key_id).arn)
    except Exception as exc:  # moto raises NotFoundException and friends
        raise RdsError(
            "KMSKeyNotAccessibleFault",
            f"The specified KMS key {key_id} does not exist or is not accessible in {region}.",
        ) from exc


def _validate_engine(engine: str, version: str | None, instance_class: str | None) -> None:
    """RDS refuses versions it does not offer and classes that do not exist for the engine."""
    if engine == "postgres" and version:
        match = re.fullmatch(r"(\d+)\.(\d+)", version)
        if not match or int(match.group(2)) not in POSTGRES_MINORS.get(int(match.group(1)), ()):
            raise RdsError("InvalidParameterCombination", f"Cannot find version {version} for {engine}")
    if instance_class and engine == "postgres":
        parts = instance_class.split(".")
        if len(parts) != 3 or parts[0] != "db" or parts[1] not in INSTANCE_FAMILIES or parts[2] not in INSTANCE_SIZES:
            raise RdsError(
                "InvalidParameterCombination",
                (
                    "RDS does not support creating a DB instance with the following combination: "
                    f"DBInstanceClass={instance_class}, Engine={engine}, EngineVersion={version or '-'}, "
                    "LicenseModel=postgresql-license. For supported combinations of instance class and database engine "
                    "version, see the documentation."
                ),
            )


# -------------------------------------------------------------------------------- wire format


def _parse_db_arn(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "rds" or parts[5] != "db":
        raise RdsError("InvalidParameterValue", f"{arn!r} is not a DB instance ARN.")
    return parts[3], parts[6].lower()


def _tags(params: dict[str, str], prefix: str) -> list[dict[str, str]]:
    tags = []
    index = 1
    while f"{prefix}.Tag.{index}.Key" in params:
        tags.append(
            {"Key": params[f"{prefix}.Tag.{index}.Key"], "Value": params.get(f"{prefix}.Tag.{index}.Value", "")}
        )
        index += 1
    return tags


def _filters(params: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    index = 1
    while f"Filters.Filter.{index}.Name" in params:
        values, value_index = [], 1
        while f"Filters.Filter.{index}.Values.Value.{value_index}" in params:
            values.append(params[f"Filters.Filter.{index}.Values.Value.{value_index}"])
            value_index += 1
        out[params[f"Filters.Filter.{index}.Name"]] = values
        index += 1
    return out


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RdsError("InvalidParameterValue", f"Invalid RestoreTime {text!r}") from exc
    return _aware(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _random_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _stable_id(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:26]


_model: Any = None


def _service_model() -> Any:
    global _model
    if _model is None:
        import botocore.session

        _model = botocore.session.get_session().get_service_model("rds")
    return _model


def _ok(action: str, result: dict[str, Any]) -> _Response:
    """A query-protocol response for `action`, written from botocore's output shape."""
    operation = _service_model().operation_model(action)
    shape = operation.output_shape
    inner = "".join(
        _xml(member, result[name], name) for name, member in shape.members.items() if result.get(name) is not None
    )
    body = (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return "200 OK", [("Content-Type", "text/xml")], body.encode()


def _error(exc: RdsError) -> _Response:
    status = {400: "400 Bad Request", 404: "404 Not Found"}.get(exc.status, f"{exc.status} Error")
    body = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(exc.code)}</Code>'
        f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], body.encode()


def _xml(shape: Any, value: Any, name: str) -> str:
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(
            _xml(member, value[key], member.serialization.get("name", key))
            for key, member in shape.members.items()
            if value.get(key) is not None
        )
        return f"<{name}>{inner}</{name}>"
    if kind == "list":
        member_name = shape.member.serialization.get("name", "member")
        return f"<{name}>{''.join(_xml(shape.member, item, member_name) for item in value)}</{name}>"
    if kind == "boolean":
        text = "true" if value else "false"
    elif kind == "timestamp":
        text = _aware(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, datetime) else str(value)
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"


def run_maintenance(account: str = "123456789012", region: str = "us-east-1", identifier: str | None = None) -> int:
    """The maintenance window arrives: apply the pending modifications of the region's instances
    (all, or one). Returns how many instances changed. For tests and `sandbox` tooling."""
    changed = 0
    try:
        databases = list(_backend(account, region).databases.values())
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
