"""RDS's query protocol: the request, which actions this package answers, and responses and
errors written from botocore's service model so boto3 parses them as it parses AWS's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from provisioner.sandbox.rds.models import AutomatedBackup, RdsError, aware, store
from provisioner.sandbox.wsgi import call_app

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

Response = tuple[str, list[tuple[str, str]], bytes]


class Request:
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

    def forward(self, pairs: list[tuple[str, str]]) -> Response:
        """Send (possibly rewritten) form fields on to moto and collect its answer."""
        return call_app(self.app, self.environ, urlencode(pairs).encode())


def backup_item(record: AutomatedBackup) -> dict[str, Any]:
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
            for r in store.backups.values()
            if r.replicated and r.source_arn == record.source_arn and r.stopped is None
        ]
        item["DBInstanceAutomatedBackupsReplications"] = [
            {"DBInstanceAutomatedBackupsArn": a} for a in replicas
        ] or None
    return item


def kms_arn(account: str, region: str, key_id: str) -> str:
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[account][region].describe_key(key_id).arn)
    except Exception as exc:  # moto raises NotFoundException and friends
        raise RdsError(
            "KMSKeyNotAccessibleFault",
            f"The specified KMS key {key_id} does not exist or is not accessible in {region}.",
        ) from exc


def parse_db_arn(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "rds" or parts[5] != "db":
        raise RdsError("InvalidParameterValue", f"{arn!r} is not a DB instance ARN.")
    return parts[3], parts[6].lower()


def tags_from(params: dict[str, str], prefix: str) -> list[dict[str, str]]:
    tags = []
    index = 1
    while f"{prefix}.Tag.{index}.Key" in params:
        tags.append(
            {"Key": params[f"{prefix}.Tag.{index}.Key"], "Value": params.get(f"{prefix}.Tag.{index}.Value", "")}
        )
        index += 1
    return tags


def filters_from(params: dict[str, str]) -> dict[str, list[str]]:
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


def parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RdsError("InvalidParameterValue", f"Invalid RestoreTime {text!r}") from exc
    return aware(value)


def form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_model: Any = None  # botocore's RDS service model, loaded once


def service_model() -> Any:
    global _model
    if _model is None:
        import botocore.session

        _model = botocore.session.get_session().get_service_model("rds")
    return _model


def ok(action: str, result: dict[str, Any]) -> Response:
    """A query-protocol response for `action`, written from botocore's output shape."""
    operation = service_model().operation_model(action)
    shape = operation.output_shape
    inner = "".join(
        to_xml(member, result[name], name) for name, member in shape.members.items() if result.get(name) is not None
    )
    body = (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return "200 OK", [("Content-Type", "text/xml")], body.encode()


def error_response(exc: RdsError) -> Response:
    status = {400: "400 Bad Request", 404: "404 Not Found"}.get(exc.status, f"{exc.status} Error")
    body = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(exc.code)}</Code>'
        f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], body.encode()


def to_xml(shape: Any, value: Any, name: str) -> str:
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(
            to_xml(member, value[key], member.serialization.get("name", key))
            for key, member in shape.members.items()
            if value.get(key) is not None
        )
        return f"<{name}>{inner}</{name}>"
    if kind == "list":
        member_name = shape.member.serialization.get("name", "member")
        return f"<{name}>{''.join(to_xml(shape.member, item, member_name) for item in value)}</{name}>"
    if kind == "boolean":
        text = "true" if value else "false"
    elif kind == "timestamp":
        text = aware(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, datetime) else str(value)
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"
