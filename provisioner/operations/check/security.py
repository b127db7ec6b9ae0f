"""The live audit of keys and access: KMS key rotation and policies, IAM roles and policies
(no `*` on `*`), SQS queue encryption, ECR repositories (scan on push, immutable tags, KMS)."""

from __future__ import annotations

import json

from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.tags import from_list, owned_key
from provisioner.constants import TAG_PLAN, cluster_name, iam_path
from provisioner.operations.check.base import (
    ADMIN_POLICIES,
    AWS_MANAGED,
    AuditBase,
    decode_document,
    denies_plain_http,
    expected_keys,
    wildcard_statements,
)
from provisioner.planfile import SharedPlan


class SecurityAudit(AuditBase):
    """The sections of keys and access (kms, iam, sqs, ecr)."""

    # -- KMS, IAM, SQS ------------------------------------------------------------------------
    def kms(self) -> None:
        expected = expected_keys(self.plan)
        found: set[str] = set()
        for region in self.regions():
            tagging = self.client("resourcegroupstaggingapi", region)
            kms = self.client("kms", region)
            items = [
                i
                for page in tagging.get_paginator("get_resources").paginate(
                    TagFilters=[{"Key": TAG_PLAN, "Values": [self.name]}], ResourceTypeFilters=["kms:key"]
                )
                for i in page["ResourceTagMappingList"]
            ]
            for item in items:
                key = owned_key(from_list(item.get("Tags")), self.name)
                if key is None:
                    continue
                metadata = kms.describe_key(KeyId=item["ResourceARN"])["KeyMetadata"]
                if metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                    continue
                found.add(key)
                rotation = kms.get_key_rotation_status(KeyId=metadata["KeyId"]).get("KeyRotationEnabled", False)
                self.add("KMS.4", key, bool(rotation), f"rotation {'on' if rotation else 'off'}", metadata["Arn"])
        for key in sorted(set(expected) - found):
            self.add("KMS.4", key, None, f"not found: KMS key {key}", key)

    def iam(self) -> None:
        iam = self.client("iam")
        roles = [
            r
            for page in iam.get_paginator("list_roles").paginate(PathPrefix=iam_path(self.name))
            for r in page["Roles"]
        ]
        for role in roles:
            name = role["RoleName"]
            problems: list[str] = []
            for policy_name in [
                p
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
                for p in page["PolicyNames"]
            ]:
                document = decode_document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
                problems += [f"inline {policy_name}: {s}" for s in wildcard_statements(document)]
            for attached in [
                p
                for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for p in page["AttachedPolicies"]
            ]:
                arn = attached["PolicyArn"]
                if AWS_MANAGED in arn:
                    if arn.endswith(ADMIN_POLICIES):
                        problems.append(f"attached {arn}")
                    continue
                policy = iam.get_policy(PolicyArn=arn)["Policy"]
                version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
                problems += [f"{arn}: {s}" for s in wildcard_statements(decode_document(version["Document"]))]
            self.add("IAM.1", name, not problems, "scoped" if not problems else "; ".join(problems), role["Arn"])

    def sqs(self) -> None:
        sqs = self.client("sqs")
        name = cluster_name(self.name)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if "NonExistentQueue" not in (error_code(exc) or "") and not is_not_found(exc):
                raise
            self.missing(("SQS.1", "PROV.12"), "karpenter/interruption-queue", f"SQS queue {name}")
            return
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        arn = attributes.get("QueueArn", url)
        encrypted = attributes.get("SqsManagedSseEnabled") == "true" or bool(attributes.get("KmsMasterKeyId"))
        self.add(
            "SQS.1",
            "karpenter/interruption-queue",
            encrypted,
            "server-side encryption on" if encrypted else "not encrypted at rest",
            arn,
        )
        policy = json.loads(attributes["Policy"]) if attributes.get("Policy") else {}
        self.add(
            "PROV.12",
            "karpenter/interruption-queue",
            denies_plain_http(policy),
            "policy denies requests without TLS"
            if denies_plain_http(policy)
            else "no deny of aws:SecureTransport false",
            arn,
        )

    # -- shared: ECR --------------------------------------------------------------------------
    def ecr(self) -> None:
        spec = self.plan.spec
        assert isinstance(spec, SharedPlan)
        ecr = self.client("ecr")
        for wanted in spec.ecr.repositories:
            resource = f"ecr/{wanted.name}"
            try:
                repo = ecr.describe_repositories(repositoryNames=[wanted.name])["repositories"][0]
            except ClientError as exc:
                if error_code(exc) != "RepositoryNotFoundException":
                    raise
                self.missing(("ECR.1", "ECR.2", "ECR.3", "ECR.5"), resource, f"ECR repository {wanted.name}")
                continue
            arn = repo["repositoryArn"]
            scan = bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))
            self.add("ECR.1", resource, scan, f"scan on push {'on' if scan else 'off'}", arn)
            mutability = repo.get("imageTagMutability")
            self.add("ECR.2", resource, str(mutability).startswith("IMMUTABLE"), f"tags {mutability}", arn)
            try:
                ecr.get_lifecycle_policy(repositoryName=wanted.name)
                lifecycle = True
            except ClientError as exc:
                if error_code(exc) != "LifecyclePolicyNotFoundException":
                    raise
                lifecycle = False
            self.add("ECR.3", resource, lifecycle, "lifecycle policy set" if lifecycle else "no lifecycle policy", arn)
            encryption = repo.get("encryptionConfiguration", {})
            kms = encryption.get("encryptionType") == "KMS" and bool(encryption.get("kmsKey"))
            self.add(
                "ECR.5",
                resource,
                kms,
                f"encrypted with {encryption.get('kmsKey')}"
                if kms
                else f"encryption {encryption.get('encryptionType', 'AES256')} (no customer managed key)",
                arn,
            )
