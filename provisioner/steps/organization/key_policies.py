"""kms:key-policy: the key policy of the CloudTrail key (a kms:key node of steps/kms).

CloudTrail encrypts log files with the trail's KMS key only if the key policy lets
cloudtrail.amazonaws.com GenerateDataKey* for this organization's trails; CreateTrail checks
it (InsufficientEncryptionPolicyException). The policy is AWS's documented one
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html):
the account root administers the key (KMS's default statement), CloudTrail may generate data
keys for trails of the management account (with the trail's `aws:SourceArn`) and describe the
key, and principals of the management account may decrypt log files.

A key policy is not a taggable resource: the node finds its key by the alias the KmsKey node
gives it (`alias/provisioner/<plan>/<name>`). Deleting the node puts KMS's default policy back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.engine import Live, Refs, Resource, RunContext
from provisioner.steps.kms.keys import GONE_STATES, alias_name
from provisioner.steps.organization import _orgs


def default_statement(partition: Any, account: Any) -> dict[str, Any]:
    return {
        "Sid": "EnableIAMUserPermissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


@dataclass(kw_only=True)
class CloudTrailKeyPolicy(Resource):
    kms_key: str  # node key of the kms:key
    key_name: str  # that node's `name` (its alias)
    trail_name: str

    type = "kms:key-policy"
    iam_actions = ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy")
    create_seconds = 1.0
    delete_seconds = 1.0
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        kms = ctx.aws.client("kms", purpose="poll")
        lives = []
        for node in _orgs.nodes_of(ctx, cls):
            try:
                metadata = kms.describe_key(KeyId=alias_name(ctx.plan_name, node.key_name))["KeyMetadata"]
            except ClientError as exc:
                if is_not_found(exc):
                    continue
                raise
            if metadata["KeyState"] in GONE_STATES:
                continue
            policy = kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"]
            item = {**metadata, "Policy": policy}
            lives.append(Live(key=node.key, id=metadata["KeyId"], fields=cls.observe(item), raw=item))
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeKey's metadata with GetKeyPolicy's `Policy` (a JSON text)."""
        return {"key_id": item["KeyId"], "policy": json.loads(item["Policy"])}

    def desired(self, refs: Refs) -> dict[str, Any]:
        partition, account = refs.get("@plan", "partition"), refs.get("@plan", "account_id")
        region = refs.get("@plan", "region")
        trail_arn = f"arn:{partition}:cloudtrail:{region}:{account}:trail/{self.trail_name}"
        return {
            "key_id": refs.id(self.kms_key),
            "policy": {
                "Version": "2012-10-17",
                "Statement": [
                    default_statement(partition, account),
                    {
                        "Sid": "AllowCloudTrailEncryptLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "kms:GenerateDataKey*",
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"aws:SourceArn": trail_arn},
                            "StringLike": {
                                "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"
                            },
                        },
                    },
                    {
                        "Sid": "AllowCloudTrailDescribeKey",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "kms:DescribeKey",
                        "Resource": "*",
                    },
                    {
                        "Sid": "AllowLogDecryption",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"kms:CallerAccount": account},
                            "StringLike": {
                                "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"
                            },
                        },
                    },
                ],
            },
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        self._put(ctx, want["key_id"], want["policy"])
        return Live(key=self.key, id=want["key_id"], fields=dict(want))

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        self._put(ctx, want["key_id"], want["policy"])
        have.fields.update(want)
        return have

    def _put(self, ctx: RunContext, key_id: str, policy: dict[str, Any]) -> None:
        try:
            ctx.aws.client("kms").put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        default = {"Version": "2012-10-17", "Statement": [default_statement(ctx.aws.partition, ctx.aws.account_id)]}
        try:
            ctx.aws.client("kms").put_key_policy(KeyId=have.id, PolicyName="default", Policy=json.dumps(default))
        except ClientError as exc:
            if not (is_not_found(exc) or "pending deletion" in str(exc).lower()):
                raise as_provisioner_error(exc, key=have.key) from exc
