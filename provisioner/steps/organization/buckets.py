"""s3:bucket: the organization trail's log bucket, locked down as SPEC section 9 asks.

- Public access blocked (all four settings), ACLs disabled (BucketOwnerEnforced), default
  encryption SSE-KMS with the trail's key and an S3 Bucket Key, versioning on, log files
  expiring after the plan's `cloudtrail.retention_days`.
- The bucket policy is CloudTrail's documented one for an organization trail
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html):
  cloudtrail.amazonaws.com may read the bucket ACL and write under `AWSLogs/<management
  account>/` and `AWSLogs/<organization id>/`, only for this trail (`aws:SourceArn`); and every
  request without TLS is denied (`aws:SecureTransport` false).
- Bucket names are global, so the name is deterministic from the plan and the account id:
  `<plan>-cloudtrail-<account>`. Discovery uses the Resource Groups Tagging API (one call,
  filtered by the plan tag) and then reads each setting. A bucket with our name but not our
  tags is an ownership error (in us-east-1 CreateBucket would answer 200 for it, so HeadBucket
  is asked first).
- Destroy never deletes audit logs: a bucket that holds objects is refused with what to do;
  an empty one is deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.constants import TAG_PLAN
from provisioner.engine import Live, OwnershipError, PermanentError, Refs, Resource, RunContext, tags_changed

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OWNERSHIP = "BucketOwnerEnforced"
# Answers of the S3 Get* calls when a setting was never made.
_ABSENT = {
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchLifecycleConfiguration",
    "OwnershipControlsNotFoundError",
}


def bucket_name(plan: Any, account: Any) -> Any:
    if not isinstance(plan, str) or not isinstance(account, str):
        return account  # a Pending account id: the name is pending too
    return f"{plan}-cloudtrail-{account}".lower()


def _read(call: Any, **params: Any) -> Any:
    try:
        return call(**params)
    except ClientError as exc:
        if error_code(exc) in _ABSENT:
            return None
        raise


@dataclass(kw_only=True)
class CloudTrailBucket(Resource):
    organization: str  # node key of the organization (its id is in the policy)
    kms_key: str  # node key of the trail's kms:key
    trail_name: str
    retention_days: int

    type = "s3:bucket"
    iam_actions = (
        "tag:GetResources",
        "s3:ListBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketVersioning",
        "s3:GetBucketPolicy",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketOwnershipControls",
        "s3:CreateBucket",
        "s3:PutBucketTagging",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketVersioning",
        "s3:PutBucketPolicy",
        "s3:ListBucketVersions",
        "s3:DeleteBucket",
    )
    create_seconds = 2.0
    delete_seconds = 1.0
    replace_on = frozenset({"name", "region"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        region = ctx.region
        tagging = ctx.aws.client("resourcegroupstaggingapi", region, purpose="poll")
        s3 = ctx.aws.client("s3", region, purpose="poll")
        found = tagging.get_resources(
            TagFilters=[{"Key": TAG_PLAN, "Values": [ctx.plan_name]}], ResourceTypeFilters=["s3"]
        ).get("ResourceTagMappingList", [])
        lives = []
        for item in found:
            tags = from_list(item.get("Tags"))
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            name = item["ResourceARN"].split(":::", 1)[-1]
            try:
                s3.head_bucket(Bucket=name)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    continue  # the tagging index lags a deletion
                raise
            lives.append(
                Live(
                    key=key,
                    id=name,
                    tags=tags,
                    fields=cls.observe(cls.read_settings(s3, name, region)),
                    outputs={"name": name, "arn": f"arn:{ctx.aws.partition}:s3:::{name}"},
                )
            )
        return lives

    @staticmethod
    def read_settings(s3: Any, name: str, region: str | None) -> dict[str, Any]:
        """What `observe` compares, read from S3 (one Get per setting; a setting never made
        is None), under the names of the S3 answers."""
        return {
            "Name": name,
            "Region": region,
            "PublicAccessBlock": _read(s3.get_public_access_block, Bucket=name),
            "Encryption": _read(s3.get_bucket_encryption, Bucket=name),
            "Policy": _read(s3.get_bucket_policy, Bucket=name),
            "OwnershipControls": _read(s3.get_bucket_ownership_controls, Bucket=name),
            "LifecycleConfiguration": _read(s3.get_bucket_lifecycle_configuration, Bucket=name),
            "Versioning": s3.get_bucket_versioning(Bucket=name),
        }

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a bucket's settings as `read_settings` gathers them."""
        block, encryption, policy = item["PublicAccessBlock"], item["Encryption"], item["Policy"]
        ownership, lifecycle = item["OwnershipControls"], item["LifecycleConfiguration"]
        rule = ((encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules") or [{}])[0]
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        expiration = [
            r.get("Expiration", {}).get("Days")
            for r in (lifecycle or {}).get("Rules", [])
            if r.get("Status") == "Enabled" and r.get("Expiration", {}).get("Days")
        ]
        return {
            "name": item["Name"],
            "region": item["Region"],
            "public_access_block": (block or {}).get("PublicAccessBlockConfiguration"),
            "encryption": {
                "algorithm": default.get("SSEAlgorithm"),
                "kms_key": default.get("KMSMasterKeyID"),
                "bucket_key": bool(rule.get("BucketKeyEnabled")),
            }
            if default
            else None,
            "policy": json.loads(policy["Policy"]) if policy else None,
            "ownership": ((ownership or {}).get("OwnershipControls", {}).get("Rules") or [{}])[0].get(
                "ObjectOwnership"
            ),
            "versioning": (item["Versioning"] or {}).get("Status"),
            "expiration_days": expiration[0] if expiration else None,
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        partition, account = refs.get("@plan", "partition"), refs.get("@plan", "account_id")
        region = refs.get("@plan", "region")
        name = bucket_name(refs.get("@plan", "name"), account)
        organization_id = refs.id(self.organization)
        bucket = f"arn:{partition}:s3:::{name}"
        trail = f"arn:{partition}:cloudtrail:{region}:{account}:trail/{self.trail_name}"
        write = {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail}}
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AWSCloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket,
                    "Condition": {"StringEquals": {"aws:SourceArn": trail}},
                },
                {
                    "Sid": "AWSCloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket}/AWSLogs/{account}/*",
                    "Condition": write,
                },
                {
                    "Sid": "AWSCloudTrailOrganizationWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket}/AWSLogs/{organization_id}/*",
                    "Condition": write,
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket, f"{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
        return {
            "name": name,
            "region": region,
            "public_access_block": BLOCK_ALL,
            "encryption": {"algorithm": "aws:kms", "kms_key": refs.get(self.kms_key, "arn"), "bucket_key": True},
            "policy": policy,
            "ownership": OWNERSHIP,
            "versioning": "Enabled",
            "expiration_days": self.retention_days,
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        name, region = want["name"], want["region"]
        s3 = ctx.aws.client("s3", region)
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                if error_code(exc) in ("403", "AccessDenied"):
                    raise OwnershipError(
                        f"bucket {name} exists in another account",
                        key=self.key,
                        code="BucketAlreadyExists",
                        hint="bucket names are global; delete that bucket or rename this plan",
                    ) from exc
                raise as_provisioner_error(exc, key=self.key) from exc
        else:
            raise OwnershipError(
                f"bucket {name} exists without this plan's tags",
                key=self.key,
                code="BucketAlreadyOwnedByYou",
                hint=f"tag it {TAG_PLAN}={ctx.plan_name} and provisioner:key={self.key} if it is this plan's, or delete it",
            )
        try:
            params: dict[str, Any] = {"Bucket": name, "ObjectOwnership": OWNERSHIP}
            if region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**params)
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": to_list(ctx.tags_for(self))})
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        live = Live(
            key=self.key,
            id=name,
            tags=ctx.tags_for(self),
            fields={"name": name, "region": region},
            outputs={"name": name, "arn": f"arn:{ctx.aws.partition}:s3:::{name}"},
        )
        return self.update(ctx, want, live, {k: {} for k in want if k not in ("name", "region")})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        s3 = ctx.aws.client("s3", have.fields.get("region") or want["region"])
        name = have.id
        try:
            # Lock it down first: nothing public, no ACLs, encrypted, TLS only; then the rest.
            if "public_access_block" in diff:
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
            if "ownership" in diff:
                s3.put_bucket_ownership_controls(
                    Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": OWNERSHIP}]}
                )
            if "encryption" in diff:
                s3.put_bucket_encryption(
                    Bucket=name,
                    ServerSideEncryptionConfiguration={
                        "Rules": [
                            {
                                "ApplyServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": want["encryption"]["kms_key"],
                                },
                                "BucketKeyEnabled": True,
                            }
                        ]
                    },
                )
            if "policy" in diff:
                s3.put_bucket_policy(Bucket=name, Policy=json.dumps(want["policy"]))
            if "versioning" in diff:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if "expiration_days" in diff:
                s3.put_bucket_lifecycle_configuration(
                    Bucket=name,
                    LifecycleConfiguration={
                        "Rules": [
                            {
                                "ID": "expire-log-files",
                                "Status": "Enabled",
                                "Filter": {"Prefix": ""},
                                "Expiration": {"Days": self.retention_days},
                                "NoncurrentVersionExpiration": {"NoncurrentDays": self.retention_days},
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                            }
                        ]
                    },
                )
            if tags_changed(diff):
                self.set_tags(ctx, have, ctx.tags_for(self))
                have.tags.update(ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(want)
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        s3 = ctx.aws.client("s3", have.fields.get("region"))
        current = from_list(s3.get_bucket_tagging(Bucket=have.id).get("TagSet")) if have.tags else {}
        s3.put_bucket_tagging(Bucket=have.id, Tagging={"TagSet": to_list({**current, **tags})})

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        s3 = ctx.aws.client("s3", have.fields.get("region"))
        try:
            listing = s3.list_object_versions(Bucket=have.id, MaxKeys=1)
            if listing.get("Versions") or listing.get("DeleteMarkers"):
                raise PermanentError(
                    f"bucket {have.id} holds CloudTrail log files; provisioner never deletes audit logs",
                    key=have.key,
                    code="BucketNotEmpty",
                    hint=f"archive and empty it yourself (aws s3 rm s3://{have.id} --recursive, and its old versions), then run destroy again",
                )
            s3.delete_bucket(Bucket=have.id)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchBucket", "404"):
                return
            raise as_provisioner_error(exc, key=have.key) from exc
