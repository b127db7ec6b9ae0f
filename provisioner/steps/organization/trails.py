"""cloudtrail:trail: the organization trail, made in the management account's home region.

Multi-region, organization-wide (every member account's events), global service events,
log file validation, encrypted with the trail's KMS key, into the locked-down log bucket, and
logging. CreateTrail checks the bucket policy and the key policy, which their own nodes set
just before; the check can lag their writes for a few seconds, which is retried.

Discovery: one DescribeTrails (home-region trails only, no shadow copies), ListTags for up to
20 of them per call, and a GetTrailStatus for the plan's. A trail with the plan's name but not its
tags is an ownership error. Trail names cannot change: a new name replaces the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.retry import eventually
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.engine import Live, OwnershipError, Refs, Resource, RunContext, field_changes, tags_changed

POLICY_PROPAGATION = frozenset({"InsufficientS3BucketPolicyException", "InsufficientEncryptionPolicyException"})


@dataclass(kw_only=True)
class Trail(Resource):
    name: str
    bucket: str  # node key of the s3:bucket
    kms_key: str  # node key of the kms:key
    # nodes that must be in place first but whose outputs the trail does not read
    # (the key policy, the organization's trusted access) are plain depends_on

    type = "cloudtrail:trail"
    iam_actions = (
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:ListTags",
        "cloudtrail:CreateTrail",
        "cloudtrail:UpdateTrail",
        "cloudtrail:StartLogging",
        "cloudtrail:AddTags",
        "cloudtrail:DeleteTrail",
        "organizations:DescribeOrganization",
        "organizations:ListAWSServiceAccessForOrganization",
        "iam:GetRole",
        "iam:CreateServiceLinkedRole",
    )
    # An organization trail makes CloudTrail's service-linked role.
    linked_services = ("cloudtrail.amazonaws.com",)
    create_seconds = 2.0
    delete_seconds = 1.0
    replace_on = frozenset({"name"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        cloudtrail = ctx.aws.client("cloudtrail", purpose="poll")
        trails = cloudtrail.describe_trails(includeShadowTrails=False).get("trailList", [])
        if not trails:
            return []
        arns = [t["TrailARN"] for t in trails]
        tag_lists: dict[str, dict[str, str]] = {}
        for start in range(0, len(arns), 20):  # ListTags takes up to 20 trails per call
            for item in cloudtrail.list_tags(ResourceIdList=arns[start : start + 20]).get("ResourceTagList", []):
                tag_lists[item["ResourceId"]] = from_list(item.get("TagsList"))
        lives = []
        for trail in trails:
            tags = tag_lists.get(trail["TrailARN"], {})
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            status = cloudtrail.get_trail_status(Name=trail["TrailARN"])
            trail = {**trail, "IsLogging": bool(status.get("IsLogging"))}  # observe reads it from the item
            lives.append(
                Live(
                    key=key,
                    id=trail["TrailARN"],
                    tags=tags,
                    raw=trail,
                    fields=cls.observe(trail),
                    outputs={"arn": trail["TrailARN"], "name": trail["Name"]},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeTrails' trail with GetTrailStatus's `IsLogging`."""
        trail = item
        return {
            "name": trail["Name"],
            "bucket": trail.get("S3BucketName"),
            "organization": bool(trail.get("IsOrganizationTrail")),
            "multi_region": bool(trail.get("IsMultiRegionTrail")),
            "global_events": bool(trail.get("IncludeGlobalServiceEvents")),
            "log_file_validation": bool(trail.get("LogFileValidationEnabled")),
            "kms_key": trail.get("KmsKeyId"),
            "logging": bool(trail.get("IsLogging")),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "bucket": refs.get(self.bucket, "name"),
            "organization": True,
            "multi_region": True,
            "global_events": True,
            "log_file_validation": True,
            "kms_key": refs.get(self.kms_key, "arn"),
            "logging": True,
        }

    def _settings(self, want: dict[str, Any]) -> dict[str, Any]:
        return {
            "S3BucketName": want["bucket"],
            "IsOrganizationTrail": True,
            "IsMultiRegionTrail": True,
            "IncludeGlobalServiceEvents": True,
            "EnableLogFileValidation": True,
            "KmsKeyId": want["kms_key"],
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        cloudtrail = ctx.aws.client("cloudtrail")
        try:
            trail = eventually(
                ctx,
                lambda: cloudtrail.create_trail(
                    Name=self.name, TagsList=to_list(ctx.tags_for(self)), **self._settings(want)
                ),
                codes=POLICY_PROPAGATION,
                key=self.key,
                what=f"create trail {self.name}",
                budget=60,
            )
            cloudtrail.start_logging(Name=trail["TrailARN"])
        except ClientError as exc:
            if error_code(exc) == "TrailAlreadyExistsException":
                raise OwnershipError(
                    f"a trail named {self.name} exists and is not this plan's",
                    key=self.key,
                    code="TrailAlreadyExistsException",
                    hint="delete or rename that trail, or change cloudtrail.name in the plan",
                ) from exc
            raise as_provisioner_error(exc, key=self.key, hint=_hint(exc)) from exc
        ctx.progress(self.key, f"trail {self.name} is logging for the whole organization")
        return Live(
            key=self.key,
            id=trail["TrailARN"],
            tags=ctx.tags_for(self),
            raw=trail,
            fields=dict(want),
            outputs={"arn": trail["TrailARN"], "name": self.name},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        cloudtrail = ctx.aws.client("cloudtrail")
        try:
            if field_changes(diff) - {"logging"}:
                eventually(
                    ctx,
                    lambda: cloudtrail.update_trail(Name=have.id, **self._settings(want)),
                    codes=POLICY_PROPAGATION,
                    key=self.key,
                    what=f"update trail {self.name}",
                    budget=60,
                )
            if "logging" in diff:
                cloudtrail.start_logging(Name=have.id)
            if tags_changed(diff):
                self.set_tags(ctx, have, ctx.tags_for(self))
                have.tags.update(ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key, hint=_hint(exc)) from exc
        have.fields.update(want)
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.client("cloudtrail").add_tags(ResourceId=have.id, TagsList=to_list(tags))

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("cloudtrail").delete_trail(Name=have.fields.get("name") or have.id)
        except ClientError as exc:
            if not (is_not_found(exc) or error_code(exc) == "TrailNotFoundException"):
                raise as_provisioner_error(exc, key=have.key) from exc


def _hint(exc: ClientError) -> str | None:
    return {
        "CloudTrailAccessNotEnabledException": "enable CloudTrail's trusted access in Organizations (the organization node does this; apply it first)",
        "InsufficientS3BucketPolicyException": "the log bucket's policy must let cloudtrail.amazonaws.com write under AWSLogs/ (its node sets it)",
        "InsufficientEncryptionPolicyException": "the key policy must let cloudtrail.amazonaws.com use the key (its node sets it)",
        "NotOrganizationMasterAccountException": "run the organization plan with the management account's credentials",
    }.get(error_code(exc) or "")
