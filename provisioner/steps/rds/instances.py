"""rds:db-instance: the environment's PostgreSQL instance, with the SPEC section 9 baseline.

Create: gp3 storage with autoscaling headroom (MaxAllocatedStorage), encrypted with the
plan's KMS key, not publicly accessible, Multi-AZ and deletion protection per plan, backups
and windows per plan, copy tags to snapshots, automatic minor upgrades, IAM database
authentication, the `postgresql` and `upgrade` logs exported, and the master password
generated and kept by RDS in Secrets Manager (ManageMasterUserPassword, encrypted with the
same key). No password is ever sent, read, printed or journaled. There is no ClientToken:
the deterministic identifier is the idempotency key, and a create that finds its identifier
taken adopts the instance only if it carries this plan's tags.

Waits: create waits for `available` (about 13 min Multi-AZ; timeout from the latency model's
p95 with margin), also for an instance an interrupted run left `creating`.

Updates are ModifyDBInstance with ApplyImmediately when the plan says `apply_immediately`
or the run was asked to (`ctx.apply_immediately`, the CLI's `--apply-immediately`, the only
override); protection plays no part: an unprotected plan that says `false` is followed too.
Otherwise the disruptive changes (class, storage, Multi-AZ,
engine version, storage type) wait for the maintenance window: AWS lists them in
PendingModifiedValues, which discovery reads as the instance's value, so `plan` shows them
once (as the update) and then reports them as pending instead of proposing them forever.
Changes RDS cannot make in place (engine, encryption key, database name, master username,
a major version) fail the node with what to do, rather than replacing a database.

Delete (destroy, or an orphan): refused in a protected plan unless the destroy was confirmed
(`ctx.allow_protected`); then backup replication is stopped, deletion protection lifted, and
the instance deleted with a final snapshot named `<identifier>-final-<UTC time>` unless the
plan says `skip_final_snapshot` (never in a protected plan). Plans that keep a final
snapshot keep the automated backups too (point-in-time restore stays possible for the
retention period). The delete waits until the instance is gone, so its subnet group,
parameter group and security group can go next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import from_list, key_of, owned_key, to_list
from provisioner.aws.waiters import age, since, wait_for
from provisioner.constants import TAG_PLAN
from provisioner.engine import (
    Live,
    OwnershipError,
    PermanentError,
    Refs,
    Resource,
    RunContext,
    field_changes,
    tags_changed,
)
from provisioner.planfile.model import DatabaseSpec
from provisioner.steps.rds._rds import (
    destroy_allowed,
    rds_call,
    rds_error,
    rds_name,
    refuse_unless_destroy_allowed,
)
from provisioner.steps.rds.instance_settings import DISRUPTIVE, IMMUTABLE, LOG_EXPORTS, SETTINGS, plain

CREATE_TIMEOUT = 2700.0  # p95 1500 s (Multi-AZ); worst seen 36 min
DELETE_TIMEOUT = 1800.0  # p95 900 s
# p50 of an immediate modification (`modifying`, a reboot, an upgrade, log exports or IAM auth
# being configured): latency-model.md has no row; est from Terraform logs of a few minutes.
MODIFY_SECONDS = 120.0

READY = frozenset({"available", "storage-optimization"})
FAILED = frozenset(
    {
        "failed",
        "incompatible-network",
        "incompatible-option-group",
        "incompatible-parameters",
        "incompatible-restore",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "restore-error",
        "storage-full",
        "stopped",
        "stopping",
        "deleting",
        "insufficient-capacity",
    }
)


@dataclass(kw_only=True)
class DbInstance(Resource):
    identifier: str
    database: DatabaseSpec
    subnet_group: str  # node keys
    parameter_group: str
    security_group: str
    kms_key: str

    type = "rds:db-instance"
    iam_actions = (
        "rds:DescribeDBInstances",
        "rds:CreateDBInstance",
        "rds:ModifyDBInstance",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        "rds:DeleteDBInstance",
        "rds:CreateDBSnapshot",
        "rds:StopDBInstanceAutomatedBackupsReplication",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
        "secretsmanager:DeleteSecret",
        "iam:CreateServiceLinkedRole",
    )
    # The first DB instance of an account makes RDS's service-linked role.
    linked_services = ("rds.amazonaws.com",)
    create_seconds = 780.0
    delete_seconds = 390.0
    guarded = True

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        return "a new database starts empty: its data comes back only from a snapshot"

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # DescribeDBInstances returns each instance's tags but cannot filter by them: one call
        # (all pages), filtered here.
        lives = []
        for item in describe_all(ctx.aws.client("rds"), "describe_db_instances", "DBInstances"):
            tags = from_list(item.get("TagList"))
            key = owned_key(tags, ctx.plan_name)
            if key is None or item.get("DBInstanceStatus") == "deleted":
                continue
            live = cls.live_from(item, key)
            pending = item.get("PendingModifiedValues") or {}
            if pending:
                changes = ", ".join(f"{k} {v}" for k, v in sorted(pending.items()) if k != "MasterUserPassword")
                ctx.progress(
                    key, f"pending until the maintenance window {item.get('PreferredMaintenanceWindow')}: {changes}"
                )
            lives.append(live)
        return lives

    @classmethod
    def live_from(cls, item: dict[str, Any], key: str) -> Live:
        return Live(
            key=key,
            id=item["DBInstanceIdentifier"],
            fields=cls.observe(item),
            tags=from_list(item.get("TagList")),
            raw=item,
            outputs=_outputs(item),
        )

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """The comparable fields of a described instance (`SETTINGS`), and the regions its
        automated backups are replicated to."""
        pending = item.get("PendingModifiedValues") or {}
        return {
            **{setting.name: setting.read(item, pending) for setting in SETTINGS},
            "backup_replication_regions": sorted(
                {
                    r["DBInstanceAutomatedBackupsArn"].split(":")[3]
                    for r in item.get("DBInstanceAutomatedBackupsReplications") or []
                }
            ),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            **{setting.name: setting.want(self, refs) for setting in SETTINGS},
            # With replication off in the plan there is no replication node to stop it; the
            # instance does (with it on, rds:automated-backups-replication owns the field).
            **({} if self.database.backup_replication else {"backup_replication_regions": []}),
        }

    def report(self, have: Live) -> dict[str, Any]:
        """What plan shows about the live instance without it being a change (engine hook):
        its status and the modifications waiting for the maintenance window."""
        raw = have.raw or {}
        pending = {k: v for k, v in (raw.get("PendingModifiedValues") or {}).items() if k != "MasterUserPassword"}
        info: dict[str, Any] = {"status": raw.get("DBInstanceStatus")}
        if pending:
            info["pending_maintenance"] = {"window": raw.get("PreferredMaintenanceWindow"), "changes": pending}
        return info

    # -- writing -------------------------------------------------------------------------------
    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        rds = ctx.aws.client("rds")
        try:
            item = rds.create_db_instance(
                DBInstanceIdentifier=self.identifier,
                **{setting.create: plain(want[setting.name]) for setting in SETTINGS if setting.create},
                Tags=to_list(ctx.tags_for(self)),
            )["DBInstance"]
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise rds_error(exc, self.key, hint=self._create_hint(exc)) from exc
            item = rds.describe_db_instances(DBInstanceIdentifier=self.identifier)["DBInstances"][0]
            tags = from_list(item.get("TagList"))
            if tags.get(TAG_PLAN) != ctx.plan_name or key_of(tags) != self.key:
                raise OwnershipError(
                    f"DB instance {self.identifier} exists and is not this plan's",
                    key=self.key,
                    hint="rename or delete that instance; provisioner never adopts what it does not own",
                ) from exc
        return self.settle(ctx, self.live_from(item, self.key))

    def _create_hint(self, exc: ClientError) -> str | None:
        if error_code(exc) in ("InvalidParameterCombination", "InvalidParameterValue"):
            return (
                f"check database.engine_version ({self.database.engine_version}) and database.instance_class "
                f"({self.database.instance_class}) against `aws rds describe-orderable-db-instance-options "
                f"--engine postgres --engine-version {self.database.engine_version}`"
            )
        return None

    def settle(self, ctx: RunContext, have: Live) -> Live:
        status = (have.raw or {}).get("DBInstanceStatus")
        if status in READY:
            return have
        poller = ctx.aws.poller("rds")
        latest: dict[str, Any] = {}

        def state() -> str | None:
            try:
                item = poller.describe_db_instances(DBInstanceIdentifier=have.id)["DBInstances"][0]
            except ClientError as exc:
                if error_code(exc) == "DBInstanceNotFound":
                    return None
                raise
            latest.update(item)
            return str(item.get("DBInstanceStatus"))

        wait_for(
            ctx,
            key=self.key,
            what=f"DB instance {have.id}",
            read_state=state,
            done=READY,
            failed=FAILED | {None},
            timeout=CREATE_TIMEOUT,
            describe_failure=lambda: _failure_hint(latest),
            # guided by the create's p50 while it is one, otherwise by a modification's
            expected=self.create_seconds if status == "creating" else MODIFY_SECONDS,
            # AWS sets InstanceCreateTime only once the instance is up; when it is there, count from it
            already=age((have.raw or {}).get("InstanceCreateTime")) if status == "creating" else 0.0,
        )
        return self.live_from(latest, self.key) if latest else have

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        changed = field_changes(diff)
        blocked = sorted(f for f in changed if f in IMMUTABLE)
        if blocked:
            reasons = "; ".join(IMMUTABLE[f] for f in blocked)
            raise PermanentError(
                f"{', '.join(blocked)} differ: {reasons}",
                key=self.key,
                hint="restore a snapshot into a new instance with the wanted settings (`restore`), then switch over",
            )
        if (
            "engine_version" in changed
            and str(have.fields.get("engine_version", "")).split(".")[0] != self.database.engine_version.split(".")[0]
        ):
            raise PermanentError(
                f"engine_version {have.fields.get('engine_version')} -> {self.database.engine_version} is a major "
                "version upgrade, which apply does not make in place",
                key=self.key,
                hint="upgrade with a blue/green deployment or a snapshot restore, then update the plan",
            )
        if "backup_replication_regions" in changed:
            stop_replication(ctx, self.key, have.raw or {})
            have.fields["backup_replication_regions"] = []
        params = self._modifications(want, have, changed)
        if params:
            # The plan's value decides; `--apply-immediately` is the only override.
            immediately = self.database.apply_immediately or bool(getattr(ctx, "apply_immediately", False))
            deferred = sorted(changed & DISRUPTIVE)
            if deferred and not immediately:
                ctx.progress(
                    self.key,
                    f"{', '.join(deferred)} will change in the maintenance window "
                    f"{self.database.maintenance_window} (apply with --apply-immediately to change now)",
                )
            item = rds_call(
                ctx,
                self.key,
                "modify_db_instance",
                DBInstanceIdentifier=have.id,
                ApplyImmediately=immediately,
                **params,
            )["DBInstance"]
            have = self.live_from(item, self.key)
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        return have

    def _modifications(self, want: dict[str, Any], have: Live, changed: set[str]) -> dict[str, Any]:
        db = self.database
        params: dict[str, Any] = {}
        if have.fields.get("port") is None:
            changed = changed - {"port"}  # no endpoint yet (creating): nothing known to change
        for setting in SETTINGS:
            if setting.modify and setting.name in changed:
                params[setting.modify] = plain(want[setting.name])
        if "allocated_storage_gib" in changed:
            params["AllocatedStorage"] = max(
                int(db.allocated_storage_gib), int(have.fields.get("allocated_storage_gib") or 0)
            )
            if params.get("MaxAllocatedStorage", db.max_allocated_storage_gib) <= params["AllocatedStorage"]:
                params.pop("MaxAllocatedStorage", None)
        if "engine_version" in changed:
            params["AllowMajorVersionUpgrade"] = False
        if "log_exports" in changed:
            current = set(have.fields.get("log_exports") or [])
            params["CloudwatchLogsExportConfiguration"] = {
                "EnableLogTypes": sorted(set(LOG_EXPORTS) - current),
                "DisableLogTypes": sorted(current - set(LOG_EXPORTS)),
            }
        if "managed_master_password" in changed or "master_secret_kms_key_id" in changed:
            params["ManageMasterUserPassword"] = True
            params["MasterUserSecretKmsKeyId"] = want["master_secret_kms_key_id"]
        return params

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        rds_call(ctx, self.key, "add_tags_to_resource", ResourceName=have.outputs["arn"], Tags=to_list(tags))

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        rds_call(ctx, self.key, "remove_tags_from_resource", ResourceName=have.outputs["arn"], TagKeys=keys)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        refuse_unless_destroy_allowed(ctx, have.key, f"DB instance {have.id}")
        raw = have.raw or {}
        spec = getattr(ctx.plan.spec, "database", None)
        stop_replication(ctx, have.key, raw)
        requested = ctx.clock.now() if ctx.clock else 0.0
        if raw.get("DBInstanceStatus") != "deleting":
            if raw.get("DeletionProtection"):
                # Only reached once the destroy is allowed (see destroy_allowed).
                assert destroy_allowed(ctx)
                ctx.progress(have.key, "lifting deletion protection for the confirmed destroy")
                rds_call(
                    ctx,
                    have.key,
                    "modify_db_instance",
                    DBInstanceIdentifier=have.id,
                    DeletionProtection=False,
                    ApplyImmediately=True,
                )
            skip = bool(spec is not None and spec.skip_final_snapshot and not ctx.plan.protected)
            params: dict[str, Any] = {
                "DBInstanceIdentifier": have.id,
                "SkipFinalSnapshot": skip,
                "DeleteAutomatedBackups": skip,
            }
            if not skip:
                params["FinalDBSnapshotIdentifier"] = final_snapshot_name(have.id)
                ctx.progress(have.key, f"keeping final snapshot {params['FinalDBSnapshotIdentifier']}")
                if ctx.journal is not None:
                    ctx.journal.record("final-snapshot", key=have.key, snapshot=params["FinalDBSnapshotIdentifier"])
            try:
                ctx.aws.client("rds").delete_db_instance(**params)
            except ClientError as exc:
                if error_code(exc) == "DBInstanceNotFound":
                    return
                if not (error_code(exc) == "InvalidDBInstanceState" and "already being deleted" in str(exc)):
                    raise rds_error(exc, have.key) from exc
        poller = ctx.aws.poller("rds")

        def state() -> str | None:
            try:
                return str(
                    poller.describe_db_instances(DBInstanceIdentifier=have.id)["DBInstances"][0]["DBInstanceStatus"]
                )
            except ClientError as exc:
                if error_code(exc) == "DBInstanceNotFound":
                    return None
                raise

        wait_for(
            ctx,
            key=have.key,
            what=f"DB instance {have.id} deletion",
            read_state=state,
            done={None},
            timeout=DELETE_TIMEOUT,
            expected=cls.delete_seconds,
            already=since(ctx, requested),
        )


def _outputs(item: dict[str, Any]) -> dict[str, Any]:
    endpoint = item.get("Endpoint") or {}
    return {
        "arn": item.get("DBInstanceArn"),
        "identifier": item.get("DBInstanceIdentifier"),
        "resource_id": item.get("DbiResourceId"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        # Where the password lives (the ARN, never the value).
        "master_secret_arn": (item.get("MasterUserSecret") or {}).get("SecretArn"),
        "replications": [
            r["DBInstanceAutomatedBackupsArn"] for r in item.get("DBInstanceAutomatedBackupsReplications") or []
        ],
    }


def _failure_hint(item: dict[str, Any]) -> str:
    infos = "; ".join(
        f"{i.get('StatusType')}: {i.get('Message') or i.get('Status')}" for i in item.get("StatusInfos") or []
    )
    return infos or "see the instance's events: aws rds describe-events --source-type db-instance"


def final_snapshot_name(identifier: str, now: datetime | None = None) -> str:
    """`<identifier>-final-<UTC time>`: unique per plan, key and moment (SPEC section 7)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return rds_name(identifier, "final", stamp, max_length=255)


def stop_replication(ctx: RunContext, key: str, item: dict[str, Any]) -> None:
    """Stop replicating this instance's automated backups to other regions (before deleting
    it): the replicated backups stay in the DR region for their retention period."""
    arn = item.get("DBInstanceArn")
    for replication in item.get("DBInstanceAutomatedBackupsReplications") or []:
        region = replication["DBInstanceAutomatedBackupsArn"].split(":")[3]
        try:
            ctx.aws.client("rds", region).stop_db_instance_automated_backups_replication(SourceDBInstanceArn=arn)
            ctx.progress(key, f"stopped automated backups replication to {region}")
        except ClientError as exc:
            if error_code(exc) not in (
                "DBInstanceNotFound",
                "InvalidDBInstanceState",
                "DBInstanceAutomatedBackupNotFound",
            ):
                raise rds_error(exc, key) from exc


def identifier_for(plan: str) -> str:
    return rds_name(plan, "postgres")
