"""rds:automated-backups-replication: the instance's automated backups copied to the DR region.

- Lives in the destination region: Start/Stop/DescribeDBInstanceAutomatedBackups are called
  there, with the source instance's ARN and a KMS key of that region (the source is
  encrypted). boto3 adds the cross-region pre-signed URL from `SourceRegion`.
- `apply` starts the replication and does not wait: it takes about 10 minutes to reach
  `replicating` (45 at worst), and nothing depends on it (SPEC section 10). Discovery reports
  the live status (`pending`, `replicating`) on every plan and apply.
- Found by the `provisioner:` tags given to Start (the replicated backup's TagList, set once:
  plan tag changes are not rewritten onto it); only
  `pending` and `replicating` count as existing: a stopped replication's backups are
  `retained` until they expire, and a new Start makes a new one.
- Retention or key changes cannot be made in place: the replication is stopped and started
  again (a replacement).
- Delete stops the replication; the backups already copied stay for their retention period
  (that is the point of a DR copy). In a protected plan it is refused unless the destroy was
  confirmed, like the instance itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.engine import Live, Refs, Resource, RunContext, TemporaryError
from provisioner.steps.rds._rds import rds_error, refuse_unless_destroy_allowed

ACTIVE = frozenset({"pending", "replicating"})


@dataclass(kw_only=True)
class AutomatedBackupsReplication(Resource):
    instance: str  # node key of the source rds:db-instance
    kms_key: str  # node key of a kms:key in `region`
    region: str  # the destination (DR) region
    retention_days: int

    type = "rds:automated-backups-replication"
    iam_actions = (
        "rds:DescribeDBInstanceAutomatedBackups",
        "rds:DescribeDBInstances",
        "rds:StartDBInstanceAutomatedBackupsReplication",
        "rds:StopDBInstanceAutomatedBackupsReplication",
        "kms:DescribeKey",
        "kms:CreateGrant",
    )
    create_seconds = 2.0  # the call; nothing waits for REPLICATING (p50 600 s)
    delete_seconds = 2.0
    replace_on = frozenset({"region", "source_arn", "kms_key_id", "retention_days"})
    # Tags are given to Start (ownership is read from the replicated backup's TagList), but a
    # replicated backup has no documented way to be retagged, so tag drift is not diffed.
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = []
        for region in ctx.regions:
            if region == ctx.region:
                continue  # replication always goes to another region
            for item in describe_all(
                ctx.aws.client("rds", region), "describe_db_instance_automated_backups", "DBInstanceAutomatedBackups"
            ):
                if item.get("Region") == region or item.get("Status") not in ACTIVE:
                    continue  # the region's own instances' backups, or a stopped replication
                tags = from_list(item.get("TagList"))
                key = owned_key(tags, ctx.plan_name)
                if key is None:
                    continue
                live = cls.live_from(item, key, region)
                ctx.progress(
                    key,
                    f"backup replication of {item.get('DBInstanceIdentifier')} to {region}: {item['Status']}"
                    + (" (not waited for; usually replicating within ~10 min)" if item["Status"] == "pending" else ""),
                )
                lives.append(live)
        return lives

    @classmethod
    def live_from(cls, item: dict[str, Any], key: str, region: str) -> Live:
        window = item.get("RestoreWindow") or {}
        return Live(
            key=key,
            id=item["DBInstanceAutomatedBackupsArn"],
            tags=from_list(item.get("TagList")),
            raw=item,
            fields=cls.observe({**item, "ReplicaRegion": region}),
            outputs={
                "arn": item["DBInstanceAutomatedBackupsArn"],
                "region": region,
                "status": item.get("Status"),
                "earliest_restorable_time": window.get("EarliestTime"),
                "latest_restorable_time": window.get("LatestTime"),
            },
        )

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a replicated automated backup as DescribeDBInstanceAutomatedBackups returns it
        in the DR region, with that region as `ReplicaRegion` (its own `Region` is the source's)."""
        return {
            "region": item["ReplicaRegion"],
            "source_arn": item.get("DBInstanceArn"),
            "kms_key_id": item.get("KmsKeyId"),
            "retention_days": item.get("BackupRetentionPeriod"),
            "status": item.get("Status"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "region": self.region,
            "source_arn": refs.get(self.instance, "arn"),
            "kms_key_id": refs.get(self.kms_key, "arn"),
            "retention_days": self.retention_days,
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        rds = ctx.aws.client("rds", self.region)
        try:
            item = rds.start_db_instance_automated_backups_replication(
                SourceDBInstanceArn=want["source_arn"],
                KmsKeyId=want["kms_key_id"],
                BackupRetentionPeriod=self.retention_days,
                SourceRegion=want["source_arn"].split(":")[3],
                Tags=to_list(ctx.tags_for(self)),
            )["DBInstanceAutomatedBackup"]
        except ClientError as exc:
            if error_code(exc) != "InvalidDBInstanceAutomatedBackupState":
                raise rds_error(exc, self.key) from exc
            # Already replicating (a start that succeeded before a crash), or a stop still
            # settling after a replacement.
            found = [
                i
                for i in describe_all(rds, "describe_db_instance_automated_backups", "DBInstanceAutomatedBackups")
                if i.get("DBInstanceArn") == want["source_arn"] and i.get("Status") in ACTIVE
            ]
            if not found:
                raise TemporaryError(
                    f"replication of {want['source_arn']} cannot start yet: {exc}", key=self.key, delay=10.0
                ) from exc
            item = found[0]
        ctx.progress(self.key, f"backup replication to {self.region} started: {item.get('Status')} (not waited for)")
        return self.live_from(item, self.key, self.region)

    def report(self, have: Live) -> dict[str, Any]:
        """What plan shows about the live replication without it being a change (engine hook)."""
        return {
            "status": have.fields.get("status"),
            "latest_restorable_time": str(have.outputs.get("latest_restorable_time") or "") or None,
        }

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        refuse_unless_destroy_allowed(ctx, have.key, f"backup replication to {have.fields.get('region')}")
        try:
            ctx.aws.client("rds", have.fields["region"]).stop_db_instance_automated_backups_replication(
                SourceDBInstanceArn=have.fields["source_arn"]
            )
        except ClientError as exc:
            # Not replicating any more, or the source is gone: nothing left to stop.
            if error_code(exc) not in (
                "InvalidDBInstanceState",
                "DBInstanceNotFound",
                "DBInstanceAutomatedBackupNotFound",
            ):
                raise rds_error(exc, have.key) from exc
