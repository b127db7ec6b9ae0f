"""ecr:repository: the application images' registries, with the SPEC section 9 baseline.

Scan on push, IMMUTABLE tags, KMS encryption with the plan's key, a lifecycle policy (untagged
images expire after `untagged_expire_days`, only the newest `keep_tagged_images` tagged ones
are kept), and a repository policy that lets the environment accounts pull (and nothing else).

- Encryption cannot change after creation (ECR's rule): a new key replaces the repository.
- Discovery: one paginated DescribeRepositories, ListTagsForResource per repository, and the
  lifecycle and repository policies of the plan's. A repository with our name but not our tags
  is an ownership error (RepositoryAlreadyExistsException), never adopted.
- Pull accounts are account keys of organization.yaml resolved by the `organization/accounts`
  read-only node (or 12-digit ids written in the plan); ECR decrypts KMS-encrypted layers for
  pullers itself, so they need no key permissions.
- A repository lives in the plan's region or, for the DR copies ECR replication fills
  (steps/shared/replication.py), in `dr_region` with a KMS key of that region: discovery reads
  each of the plan's regions.
- Destroy deletes an empty repository; one that still holds images is refused with what to
  do, because other environments may be running those images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.engine import Live, OwnershipError, PermanentError, Refs, Resource, RunContext, tags_changed

PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def lifecycle_policy(untagged_days: int, keep_tagged: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep only the newest {keep_tagged} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def pull_policy(partition: Any, account_ids: list[Any]) -> dict[str, Any] | None:
    if not account_ids:
        return None
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPullFromEnvironmentAccounts",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:{partition}:iam::{account}:root" for account in account_ids]},
                "Action": PULL_ACTIONS,
            }
        ],
    }


def _document(text: str | None) -> Any:
    return json.loads(text) if text else None


@dataclass(kw_only=True)
class Repository(Resource):
    name: str
    kms_key: str  # node key of the kms:key
    untagged_expire_days: int
    keep_tagged_images: int
    # account keys of organization.yaml (resolved through `directory`) or 12-digit ids
    pull_accounts: tuple[str, ...] = field(default_factory=tuple)
    directory: str | None = None  # node key of the organizations:accounts directory
    region: str | None = None  # None: the plan's region; the DR copies name `dr_region`

    type = "ecr:repository"
    iam_actions = (
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:CreateRepository",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability",
        "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:DeleteRepositoryPolicy",
        "ecr:TagResource",
        "ecr:UntagResource",
        "ecr:DeleteRepository",
        "kms:DescribeKey",
        "kms:CreateGrant",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"name", "encryption", "region"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = []
        for region in ctx.regions:
            ecr = ctx.aws.client("ecr", region, purpose="poll")
            for repository in describe_all(ecr, "describe_repositories", "repositories"):
                arn = repository["repositoryArn"]
                tags = from_list(ecr.list_tags_for_resource(resourceArn=arn).get("tags"))
                key = owned_key(tags, ctx.plan_name)
                if key is None:
                    continue
                lives.append(
                    Live(
                        key=key,
                        id=repository["repositoryName"],
                        tags=tags,
                        raw=repository,
                        fields=cls.observe(cls.with_policies(ecr, repository, region)),
                        outputs={
                            "arn": arn,
                            "uri": repository.get("repositoryUri"),
                            "name": repository["repositoryName"],
                            "region": region,
                        },
                    )
                )
        return lives

    @staticmethod
    def with_policies(ecr: Any, repository: dict[str, Any], region: str | None) -> dict[str, Any]:
        """The described repository with its lifecycle and repository policy texts (None when
        it has none) and the region it was read in: what `observe` compares."""
        name = repository["repositoryName"]
        try:
            lifecycle = ecr.get_lifecycle_policy(repositoryName=name).get("lifecyclePolicyText")
        except ClientError as exc:
            if error_code(exc) != "LifecyclePolicyNotFoundException":
                raise
            lifecycle = None
        try:
            policy = ecr.get_repository_policy(repositoryName=name).get("policyText")
        except ClientError as exc:
            if error_code(exc) != "RepositoryPolicyNotFoundException":
                raise
            policy = None
        return {**repository, "lifecyclePolicyText": lifecycle, "policyText": policy, "region": region}

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a described repository as `with_policies` completes it."""
        encryption = item.get("encryptionConfiguration") or {}
        return {
            "name": item["repositoryName"],
            "tag_mutability": item.get("imageTagMutability"),
            "scan_on_push": bool((item.get("imageScanningConfiguration") or {}).get("scanOnPush")),
            "encryption": {"type": encryption.get("encryptionType"), "kms_key": encryption.get("kmsKey")},
            "lifecycle": _document(item.get("lifecyclePolicyText")),
            "policy": _document(item.get("policyText")),
            "region": item["region"],
        }

    def pull_account_ids(self, refs: Refs) -> list[Any]:
        return [
            account if account.isdigit() else refs.get(self.directory or "", account) for account in self.pull_accounts
        ]

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region or refs.get("@plan", "region"),
            "tag_mutability": "IMMUTABLE",
            "scan_on_push": True,
            "encryption": {"type": "KMS", "kms_key": refs.get(self.kms_key, "arn")},
            "lifecycle": lifecycle_policy(self.untagged_expire_days, self.keep_tagged_images),
            "policy": pull_policy(refs.get("@plan", "partition"), self.pull_account_ids(refs)),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        ecr = ctx.aws.client("ecr", want["region"])
        try:
            repository = ecr.create_repository(
                repositoryName=self.name,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "KMS", "kmsKey": want["encryption"]["kms_key"]},
                tags=to_list(ctx.tags_for(self)),
            )["repository"]
        except ClientError as exc:
            if error_code(exc) == "RepositoryAlreadyExistsException":
                raise OwnershipError(
                    f"repository {self.name} exists without this plan's tags",
                    key=self.key,
                    code="RepositoryAlreadyExistsException",
                    hint="delete or rename it, or tag it if it really belongs to this plan",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        live = Live(
            key=self.key,
            id=self.name,
            tags=ctx.tags_for(self),
            raw=repository,
            fields={**want, "lifecycle": None, "policy": None},
            outputs={
                "arn": repository["repositoryArn"],
                "uri": repository.get("repositoryUri"),
                "name": self.name,
                "region": want["region"],
            },
        )
        return self.update(ctx, want, live, {"lifecycle": {}, "policy": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        ecr = ctx.aws.client("ecr", have.outputs.get("region"))
        name = have.id
        try:
            if "tag_mutability" in diff:
                ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
            if "scan_on_push" in diff:
                ecr.put_image_scanning_configuration(
                    repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
                )
            if "lifecycle" in diff:
                ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(want["lifecycle"]))
            if "policy" in diff:
                if want["policy"] is None:
                    try:
                        ecr.delete_repository_policy(repositoryName=name)
                    except ClientError as exc:
                        if error_code(exc) != "RepositoryPolicyNotFoundException":
                            raise
                else:
                    ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(want["policy"]))
            if tags_changed(diff):
                self.set_tags(ctx, have, ctx.tags_for(self))
                have.tags.update(ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(want)
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.client("ecr", have.outputs.get("region")).tag_resource(
            resourceArn=have.outputs["arn"], tags=to_list(tags)
        )

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        ctx.aws.client("ecr").untag_resource(resourceArn=have.outputs["arn"], tagKeys=keys)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("ecr", have.outputs.get("region")).delete_repository(repositoryName=have.id)
        except ClientError as exc:
            if is_not_found(exc):
                return
            if error_code(exc) == "RepositoryNotEmptyException":
                raise PermanentError(
                    f"repository {have.id} still holds images, which environments may be running",
                    key=have.key,
                    code="RepositoryNotEmptyException",
                    hint=f"delete its images first (aws ecr batch-delete-image --repository-name {have.id} ...), then run destroy again",
                ) from exc
            raise as_provisioner_error(exc, key=have.key) from exc
