"""The WSGI layer: answers the RDS actions in `wire.HANDLED` and passes the rest to moto."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from botocore import xform_name

from provisioner.sandbox.rds import models
from provisioner.sandbox.rds.engines import validate_engine, validate_parameter_group_family
from provisioner.sandbox.rds.models import (
    AutomatedBackup,
    RdsError,
    aware,
    backend,
    current_value,
    database,
    forget_dbi,
    mark_created,
    own_record,
    patch_moto,
    properties,
    random_id,
    records_in,
    store,
    sync_replications,
)
from provisioner.sandbox.rds.wire import (
    DEFERRED,
    HANDLED,
    Request,
    Response,
    backup_item,
    error_response,
    filters_from,
    form_value,
    kms_arn,
    ok,
    parse_db_arn,
    parse_time,
    tags_from,
)
from provisioner.sandbox.wsgi import credential_scope, read_body, request_account


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    patch_moto()
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
        request = Request(
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
            status, headers, payload = error_response(exc)
        start_response(
            status,
            [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(payload)))],
        )
        return [payload]

    # -- automated backups replication ------------------------------------------------------
    def _start_db_instance_automated_backups_replication(self, request: Request) -> Response:
        source_arn = request.params.get("SourceDBInstanceArn", "")
        source_region, identifier = parse_db_arn(source_arn)
        if source_region == request.region:
            raise RdsError(
                "InvalidParameterValue",
                "The source DB instance must be in a different AWS Region than the replicated backups.",
            )
        db = database(request.account, source_region, identifier)
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
            kms_key = kms_arn(request.account, request.region, kms_key)
        retention = int(request.params.get("BackupRetentionPeriod") or db.backup_retention_period)
        with store.lock:
            for record in store.backups.values():
                if record.replicated and record.source_arn == db.arn and record.stopped is None:
                    raise RdsError(
                        "InvalidDBInstanceAutomatedBackupState",
                        f"Automated backups of DB instance {identifier} are already being replicated to {record.region}.",
                    )
            now = models.now()
            record = AutomatedBackup(
                arn=f"arn:aws:rds:{request.region}:{request.account}:auto-backup:ab-{random_id(26)}",
                account=request.account,
                region=request.region,
                source_arn=db.arn,
                source_region=source_region,
                source=properties(db),
                replicated=True,
                kms_key_id=kms_key,
                retention=retention,
                earliest=now,
                started=now,
                tags=tags_from(request.params, "Tags"),
            )
            store.backups[record.arn] = record
            sync_replications(request.account, source_region, identifier)
        return ok(request.action, {"DBInstanceAutomatedBackup": backup_item(record)})

    def _stop_db_instance_automated_backups_replication(self, request: Request) -> Response:
        source_arn = request.params.get("SourceDBInstanceArn", "")
        source_region, identifier = parse_db_arn(source_arn)
        with store.lock:
            active = [
                r
                for r in store.backups.values()
                if r.replicated and r.region == request.region and r.source_arn == source_arn and r.stopped is None
            ]
            if not active:
                if database(request.account, source_region, identifier) is None:
                    raise RdsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
                raise RdsError(
                    "InvalidDBInstanceState",
                    f"Automated backups of DB instance {identifier} are not being replicated to {request.region}.",
                )
            record = active[0]
            record.stopped = models.now()
            sync_replications(request.account, source_region, identifier)
        return ok(request.action, {"DBInstanceAutomatedBackup": backup_item(record)})

    def _describe_db_instance_automated_backups(self, request: Request) -> Response:
        records = records_in(request.account, request.region)
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
        for name, values in filters_from(params).items():
            pick = {
                "status": lambda r: r.status(),
                "db-instance-id": lambda r: r.source.get("DBInstanceIdentifier"),
                "dbi-resource-id": lambda r: r.source.get("DbiResourceId"),
            }.get(name)
            if pick is None:
                raise RdsError("InvalidParameterValue", f"Unrecognized filter name: {name}")
            records = [r for r in records if pick(r) in values]
        return ok(request.action, {"DBInstanceAutomatedBackups": [backup_item(r) for r in records]})

    # -- restore -----------------------------------------------------------------------------
    def _restore_db_instance_to_point_in_time(self, request: Request) -> Response:
        params = request.params
        target = (params.get("TargetDBInstanceIdentifier") or "").lower()
        if database(request.account, request.region, target) is not None:
            raise RdsError("DBInstanceAlreadyExists", "DB instance already exists")
        source, record = self._restore_source(request)
        earliest, latest = record.window() if record else (aware(source["InstanceCreateTime"]), models.now())
        if params.get("RestoreTime") and params.get("UseLatestRestorableTime", "").lower() == "true":
            raise RdsError(
                "InvalidParameterCombination", "Cannot specify both RestoreTime and UseLatestRestorableTime."
            )
        if params.get("RestoreTime"):
            when = parse_time(params["RestoreTime"])
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
                create.append((name, form_value(value)))
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
            create.append(("MasterUserPassword", random_id(24)))
        forget_dbi(request.account, request.region, target)
        mark_created(request.account, request.region, target)
        status, headers, payload = request.forward(create)
        if status.startswith("200"):
            payload = payload.replace(b"CreateDBInstanceResponse", b"RestoreDBInstanceToPointInTimeResponse")
            payload = payload.replace(b"CreateDBInstanceResult", b"RestoreDBInstanceToPointInTimeResult")
        return status, headers, payload

    def _restore_source(self, request: Request) -> tuple[dict[str, Any], AutomatedBackup | None]:
        params = request.params
        backup_arn = params.get("SourceDBInstanceAutomatedBackupsArn")
        if backup_arn:
            with store.lock:
                record = next((r for r in records_in(request.account, request.region) if r.arn == backup_arn), None)
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
                for r in records_in(request.account, request.region)
                if r.source.get("DbiResourceId") == params["SourceDbiResourceId"]
            ]
            if not records:
                raise RdsError(
                    "DBInstanceNotFound", f"No DB instance with resource id {params['SourceDbiResourceId']}.", 404
                )
            return records[0].source, records[0]
        db = database(request.account, request.region, identifier)
        if db is None:
            raise RdsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
        if not getattr(db, "backup_retention_period", 0):
            raise RdsError("PointInTimeRestoreNotEnabled", f"Automated backups are off for {identifier}.")
        return properties(db), None

    # -- instances -------------------------------------------------------------------------
    def _create_db_instance(self, request: Request) -> Response:
        params = request.params
        validate_engine(params.get("Engine", ""), params.get("EngineVersion"), params.get("DBInstanceClass"))
        group = params.get("DBParameterGroupName")
        validate_parameter_group_family(
            params.get("Engine", ""), params.get("EngineVersion"), group, _group_family(request, group)
        )
        identifier = params.get("DBInstanceIdentifier", "").lower()
        new = database(request.account, request.region, identifier) is None
        if new:
            forget_dbi(request.account, request.region, identifier)
            mark_created(request.account, request.region, identifier)
        response = request.forward(request.pairs)
        if new and not response[0].startswith("200"):
            forget_dbi(request.account, request.region, identifier)
        return response

    def _modify_db_instance(self, request: Request) -> Response:
        identifier = request.params.get("DBInstanceIdentifier", "").lower()
        db = database(request.account, request.region, identifier)
        if db is None:
            return request.forward(request.pairs)
        validate_engine(db.engine, request.params.get("EngineVersion"), request.params.get("DBInstanceClass"))
        group = request.params.get("DBParameterGroupName")
        validate_parameter_group_family(
            db.engine, request.params.get("EngineVersion") or db.engine_version, group, _group_family(request, group)
        )
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
            pairs = list(request.pairs) + [(k, form_value(v)) for k, v in pending.items() if k not in given]
            pending = {}
        else:
            for name, value in request.pairs:
                if name in DEFERRED:
                    converted = DEFERRED[name](value)
                    current = current_value(db, name)
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

    def _delete_db_instance(self, request: Request) -> Response:
        identifier = request.params.get("DBInstanceIdentifier", "").lower()
        db = database(request.account, request.region, identifier)
        seen = properties(db) if db is not None else None
        status, headers, payload = request.forward(request.pairs)
        if status.startswith("200") and seen is not None:
            now = models.now()
            with store.lock:
                for record in store.backups.values():
                    if record.source_arn == seen["DBInstanceArn"] and record.stopped is None:
                        record.source = seen
                        record.stopped = now  # replicas are retained, replication ends
                if request.params.get("DeleteAutomatedBackups", "true").lower() == "false" and seen.get(
                    "BackupRetentionPeriod"
                ):
                    retained = own_record(request.account, request.region, seen)
                    retained.stopped = now
                    store.backups[retained.arn] = retained
        return status, headers, payload

    # -- groups ------------------------------------------------------------------------------
    def _describe_db_parameter_groups(self, request: Request) -> Response:
        # AWS answers DBParameterGroupNotFound for a named group that does not exist (moto: []).
        name = request.params.get("DBParameterGroupName")
        if name and not name.startswith("default."):
            try:
                groups = backend(request.account, request.region).db_parameter_groups
            except KeyError:
                groups = {}
            if name not in groups:
                raise RdsError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}", 404)
        return request.forward(request.pairs)


def _group_family(request: Request, name: str | None) -> str | None:
    """The family of the account's DB parameter group `name`; None for none, an RDS default
    group, or one that does not exist (moto answers that one itself)."""
    if not name or name.startswith("default."):
        return None
    try:
        group = backend(request.account, request.region).db_parameter_groups.get(name)
    except KeyError:
        return None
    return getattr(group, "family", None) if group is not None else None
