"""kms:key: a customer managed key with rotation on and an alias, in any of the plan's regions.

- Discovery uses the Resource Groups Tagging API because ListKeys cannot filter by tag: the
  keys come from the run's one bulk tag read per region (`aws.discovery.tagged_resources`,
  shared with the other kinds, so the plan's region costs no read for keys alone); each key
  found costs a DescribeKey and a GetKeyRotationStatus. The DescribeKey is made by the key's
  alias (DescribeKey takes an alias name and answers for the key it points to), so the same
  read tells whether the plan's alias is on the key; only a key the plan has no node for (or
  one a killed destroy left) has its aliases listed (ListAliases, once per region).
- Keys cannot be deleted at once: destroy deletes the alias and schedules the key's deletion
  (the 7-day minimum window outside protected plans, 30 days in them). A key pending deletion
  counts as gone, so a later apply makes a new one.
- A key that encrypts data destroy keeps (a database's final snapshot, retained backups) is
  `retain_on_destroy`: destroy releases it instead of deleting it (deleting would make that
  data unrecoverable after the window): its alias and ownership tags are removed, so the plan
  no longer sees it, and it is tagged `provisioner:retained-from=<plan>/<key>` for people.
- The key policy is AWS's default (the account root may use the key, delegating to IAM), so
  the services' roles get access through their IAM policies and grants, as EKS and RDS expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all, tagged_resources
from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import key_of, to_list
from provisioner.constants import TAG_DELETING_FROM, TAG_KEY, TAG_MANAGED_BY, TAG_PLAN
from provisioner.engine import Live, Refs, Resource, RunContext, tags_changed

RETAIN_TAG = "provisioner:retain-on-destroy"
GONE_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion", "Unavailable"})


def alias_name(plan: str, name: str) -> str:
    return f"alias/provisioner/{plan}/{name}"


@dataclass(kw_only=True)
class KmsKey(Resource):
    name: str
    description: str
    region: str | None = None  # None: the plan's primary region
    retain_on_destroy: bool = False

    type = "kms:key"
    iam_actions = (
        "rds:DescribeDBSnapshots",
        "tag:GetResources",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "kms:ListAliases",
        "kms:CreateKey",
        "kms:CreateAlias",
        "kms:UpdateAlias",
        "kms:DeleteAlias",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:UpdateKeyDescription",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
    )
    create_seconds = 15.0
    delete_seconds = 1.0
    replace_on = frozenset({"region"})
    guarded = True

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        return "what the key encrypts (secrets, volumes, snapshots) cannot be decrypted without it"

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives: list[Live] = []
        for region in ctx.regions:
            kms = ctx.aws.client("kms", region)
            # One listing of the region's tagged keys finds both the plan's keys and those a
            # destroy released but did not get to schedule (killed in between: they carry the
            # deleting marker instead of the plan tag). It is the bulk tag read the other kinds
            # share; only its keys are taken from it.
            found = [
                (arn, tags)
                for arn, tags in sorted(tagged_resources(ctx, region).items())
                if ":kms:" in arn
                and ":key/" in arn
                and (
                    tags.get(TAG_PLAN) == ctx.plan_name
                    or tags.get(TAG_DELETING_FROM, "").startswith(f"{ctx.plan_name}/")
                )
            ]
            aliases_by_key: dict[str, list[str]] | None = None
            for arn, tags in found:
                deleting = tags.get(TAG_DELETING_FROM, "")
                key = key_of(tags) or (deleting.split("/", 1)[1] if deleting else None)
                if key is None or (tags.get(TAG_PLAN) != ctx.plan_name and not deleting):
                    continue
                node = ctx.nodes.get(key)
                alias = alias_name(ctx.plan_name, node.name) if isinstance(node, KmsKey) and not deleting else None
                metadata, aliases = _by_alias(kms, alias, arn) if alias else (None, None)
                if metadata is None:  # the plan's alias is not on this key (or it has no node)
                    metadata = kms.describe_key(KeyId=arn)["KeyMetadata"]
                if metadata["KeyState"] in GONE_STATES:
                    continue
                key_id = metadata["KeyId"]
                rotation = kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled", False)
                if aliases is None:
                    if aliases_by_key is None:  # one ListAliases for the region, not one per key
                        aliases_by_key = {}
                        for listed in describe_all(kms, "list_aliases", "Aliases"):
                            if listed.get("TargetKeyId"):
                                aliases_by_key.setdefault(listed["TargetKeyId"], []).append(listed["AliasName"])
                    aliases = sorted(aliases_by_key.get(key_id, []))
                lives.append(
                    Live(
                        key=key,
                        id=key_id,
                        tags=tags,
                        raw=metadata,
                        fields=cls.observe(
                            {**metadata, "Region": region, "KeyRotationEnabled": rotation, "Aliases": aliases}
                        ),
                        outputs={"arn": metadata["Arn"], "region": region},
                    )
                )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeKey's metadata with the `Region` it was read in, its rotation status
        and the names of its aliases (for a key of the plan's: its alias when that is on it,
        else none; aliases someone else added beside it are not compared)."""
        return {
            "region": item["Region"],
            "rotation": item["KeyRotationEnabled"],
            "enabled": item["KeyState"] == "Enabled",
            "aliases": item["Aliases"],
            "description": item.get("Description", ""),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "region": self.region or refs.get("@plan", "region"),
            "rotation": True,
            "enabled": True,
            "aliases": [alias_name(refs.get("@plan", "name"), self.name)],
            "description": self.description,
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        kms = ctx.aws.client("kms", want["region"])
        try:
            metadata = kms.create_key(
                Description=self.description,
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in to_list(ctx.tags_for(self))],
            )["KeyMetadata"]
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        live = Live(
            key=self.key,
            id=metadata["KeyId"],
            tags=ctx.tags_for(self),
            raw=metadata,
            fields={
                "region": want["region"],
                "rotation": False,
                "enabled": True,
                "aliases": [],
                "description": self.description,
            },
            outputs={"arn": metadata["Arn"], "region": want["region"]},
        )
        return self.update(ctx, want, live, {"rotation": {}, "aliases": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        kms = ctx.aws.client("kms", have.fields["region"])
        try:
            if "enabled" in diff:
                kms.enable_key(KeyId=have.id)
            if "rotation" in diff:
                kms.enable_key_rotation(KeyId=have.id)
            if "description" in diff:
                kms.update_key_description(KeyId=have.id, Description=self.description)
            if "aliases" in diff:
                for alias in want["aliases"]:
                    if alias not in have.fields["aliases"]:
                        try:
                            kms.create_alias(AliasName=alias, TargetKeyId=have.id)
                        except ClientError as exc:
                            if "AlreadyExists" not in str(exc):
                                raise
                            kms.update_alias(AliasName=alias, TargetKeyId=have.id)  # moved from a deleted key
            if tags_changed(diff):
                kms.tag_resource(
                    KeyId=have.id,
                    Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in to_list(ctx.tags_for(self))],
                )
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update({k: want[k] for k in ("rotation", "enabled", "aliases", "description")})
        return have

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        try:
            ctx.aws.client("kms").untag_resource(KeyId=have.id, TagKeys=keys)
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc

    def __post_init__(self) -> None:
        if self.retain_on_destroy:
            self.tags = {**self.tags, RETAIN_TAG: "true"}

    @classmethod
    def kept_reason(cls, ctx: RunContext, have: Live) -> str | None:
        """What `delete` will keep the key for (the same test), for `plan --destroy`."""
        if have.tags.get(RETAIN_TAG) == "true":
            return "it will encrypt the final snapshot and retained backups"
        snapshots = _snapshots_encrypted_by(ctx, have)
        if snapshots:
            return f"it encrypts DB snapshot(s) {', '.join(snapshots[:3])}{' ...' if len(snapshots) > 3 else ''}"
        return None

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        kms = ctx.aws.client("kms", have.fields["region"])
        snapshots = _snapshots_encrypted_by(ctx, have)
        if have.tags.get(RETAIN_TAG) == "true" or snapshots:
            try:
                for alias in have.fields.get("aliases", []):
                    kms.delete_alias(AliasName=alias)
                kms.tag_resource(
                    KeyId=have.id,
                    Tags=[{"TagKey": "provisioner:retained-from", "TagValue": f"{ctx.plan_name}/{have.key}"}],
                )
                kms.untag_resource(KeyId=have.id, TagKeys=[TAG_PLAN, TAG_KEY, TAG_MANAGED_BY, RETAIN_TAG])
            except ClientError as exc:
                raise as_provisioner_error(exc, key=have.key) from exc
            ctx.progress(
                have.key,
                f"kept key {have.id}: it encrypts "
                + (
                    f"DB snapshot(s) {', '.join(snapshots[:3])}{' ...' if len(snapshots) > 3 else ''}"
                    if snapshots
                    else "the final snapshot and retained backups"
                ),
            )
            return
        try:
            for alias in have.fields.get("aliases", []):
                kms.delete_alias(AliasName=alias)
            # A key pending deletion cannot be re-tagged, and it lingers for the window; drop
            # our ownership tags first so nothing stays tagged for the plan, keeping a marker
            # that lets the next run finish if this one is killed before scheduling.
            if have.tags.get(TAG_PLAN):
                kms.tag_resource(
                    KeyId=have.id, Tags=[{"TagKey": TAG_DELETING_FROM, "TagValue": f"{ctx.plan_name}/{have.key}"}]
                )
                kms.untag_resource(KeyId=have.id, TagKeys=[TAG_PLAN, TAG_KEY, TAG_MANAGED_BY])
            window = 30 if ctx.plan.protected else 7
            kms.schedule_key_deletion(KeyId=have.id, PendingWindowInDays=window)
        except ClientError as exc:
            if is_not_found(exc) or "pending deletion" in str(exc).lower():
                return
            raise as_provisioner_error(exc, key=have.key) from exc


def _by_alias(kms: Any, alias: str, arn: str) -> tuple[dict[str, Any] | None, list[str] | None]:
    """(metadata, [alias]) when `alias` points at the key `arn`; (None, []) when it does not
    (missing, or on another key: a key made again), so the caller describes the key by its ARN
    and the plan shows the alias to be set."""
    try:
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        return None, []
    return (metadata, [alias]) if metadata.get("Arn") == arn else (None, [])


def _snapshots_encrypted_by(ctx: RunContext, have: Live) -> list[str]:
    """Manual DB snapshots (a `snapshot ENV`, a final snapshot) this key encrypts: deleting
    the key would make them impossible to restore, so the key is released instead."""
    arn = have.outputs.get("arn") or have.id
    try:
        rds = ctx.aws.client("rds", have.fields["region"])
        snapshots = [
            s
            for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual")
            for s in page.get("DBSnapshots", [])
        ]
    except ClientError as exc:
        raise as_provisioner_error(exc, key=have.key) from exc
    return [
        s["DBSnapshotIdentifier"]
        for s in snapshots
        if s.get("KmsKeyId") and (s["KmsKeyId"] == arn or s["KmsKeyId"].endswith(f"/{have.id}"))
    ]
