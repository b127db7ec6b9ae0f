"""Batched, tag-filtered reads: one describe per kind, all pages, filtered server-side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.aws.tags import from_list, plan_filter
from provisioner.constants import TAG_DELETING_FROM, TAG_PLAN
from provisioner.engine.context import RunContext

# The resource types whose tags discovery reads in bulk (`tagged_resources`), as the Resource
# Groups Tagging API names them (`service:type`, the ARN's resource type). One list for every
# kind, so the kinds of a run share one GetResources per account and region.
BULK_TAG_TYPES = (
    "ec2:launch-template",
    "events:rule",
    "kms:key",
    "logs:log-group",
    "rds:pg",
    "rds:subgrp",
    "sqs:queue",
)


def describe_all(client: Any, operation: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a describe/list call, following pages when the API has them."""
    if client.can_paginate(operation):
        items: list[dict[str, Any]] = []
        for page in client.get_paginator(operation).paginate(**params):
            items.extend(page.get(result_key, []))
        return items
    return list(getattr(client, operation)(**params).get(result_key, []))


def describe_plan_ec2(ctx: RunContext, operation: str, result_key: str) -> list[dict[str, Any]]:
    """EC2 items carrying this plan's tag, read once per run and shared by the kinds that need them."""
    ec2 = ctx.aws.client("ec2")
    return ctx.cached(
        ("ec2", operation, ctx.plan_name),
        lambda: describe_all(ec2, operation, result_key, Filters=plan_filter(ctx.plan_name)),
    )


def iam_role_details(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Every IAM role of the account with its tags, trust policy, inline policy documents and
    attached managed policies, by role name: one paginated GetAccountAuthorizationDetails
    per run (`_account_authorization_details`), shared by the role kinds (plan roles, CI
    roles, service-linked roles).

    IAM has no tag-filtered list, and ListRoles returns neither tags nor policies, so reading
    roles one by one costs a GetRole, a ListAttachedRolePolicies, a ListRolePolicies and a
    GetRolePolicy per inline policy for every role (about 4 calls a role); this is what Cloud
    Custodian and AWS Config do instead. Callers filter by path and ownership tags themselves.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html
    """
    return dict(_account_authorization_details(ctx)["roles"])


def iam_local_policy_details(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Every customer managed policy of the account with all its versions (documents
    included), by ARN: from the same GetAccountAuthorizationDetails as the roles, instead of a
    GetPolicy and a GetPolicyVersion per policy. The answer carries no tags."""
    return dict(_account_authorization_details(ctx)["policies"])


def _account_authorization_details(ctx: RunContext) -> dict[str, dict[str, dict[str, Any]]]:
    """Roles and customer managed policies in one paginated read per run: the role kinds and
    the boundary policy share it (an account's own policies are few next to its roles)."""

    def read() -> dict[str, dict[str, dict[str, Any]]]:
        iam = ctx.aws.client("iam")
        roles: dict[str, dict[str, Any]] = {}
        policies: dict[str, dict[str, Any]] = {}
        for page in iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["Role", "LocalManagedPolicy"]
        ):
            roles.update({role["RoleName"]: role for role in page.get("RoleDetailList", [])})
            policies.update({policy["Arn"]: policy for policy in page.get("Policies", [])})
        return {"roles": roles, "policies": policies}

    return ctx.cached(("iam", "account-authorization-details"), read)


def tagged_resources(ctx: RunContext, region: str | None = None) -> dict[str, dict[str, str]]:
    """Tags of every resource of `BULK_TAG_TYPES` that carries a plan tag (any plan's), or,
    for KMS keys, a destroy's deleting marker, by ARN: one paginated Resource Groups Tagging
    API GetResources per account and region per run, shared by the kinds whose services have
    no tag-filtered describe (EventBridge rules, KMS keys, log groups, RDS parameter and subnet
    groups, SQS queues).

    Reading tags one resource at a time costs a ListTagsForResource per resource (a dev
    environment: 10 of its no-op plan's calls, issue #17); this is one call for up to 100.
    The read has no tag filter, because GetResources ANDs its tag filters and the KMS keys a
    killed destroy left behind carry the deleting marker instead of the plan tag: so one read
    serves every kind, the keys included (a separate read per region for keys cost one more
    call, issue #17), and what carries neither tag is dropped here. (Without a tag filter the
    API also returns resources of these types tagged by others; an environment's account holds
    few, and a page holds 100.) Resources of other plans come back too, so a kind can tell
    "another plan's" from "untagged" (adopting an EKS-made log group depends on it); ownership
    is still checked by the caller (`owned_key`). A resource absent from the answer has no plan
    tag, or was tagged a moment ago: the API is eventually consistent, so callers join it with
    their service's describe (authoritative for existence) and read the tags of a described
    resource the answer lacks one by one (`tags_of`).
    https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html
    """
    region = region or ctx.aws.region

    def read() -> dict[str, dict[str, str]]:
        tagging = ctx.aws.client("resourcegroupstaggingapi", region)
        items = describe_all(
            tagging,
            "get_resources",
            "ResourceTagMappingList",
            ResourceTypeFilters=list(BULK_TAG_TYPES),
            # The largest pages the API allows: a page ends at whichever limit comes first.
            ResourcesPerPage=100,
            TagsPerPage=500,
        )
        found = {item["ResourceARN"]: from_list(item.get("Tags")) for item in items}
        return {
            arn: tags
            for arn, tags in found.items()
            if TAG_PLAN in tags or (TAG_DELETING_FROM in tags and ":kms:" in arn)
        }

    return ctx.cached(("tagging", "get-resources", region), read)


def tags_of(
    ctx: RunContext, arn: str, read_one: Callable[[], dict[str, str]], region: str | None = None
) -> dict[str, str]:
    """The tags of a resource a describe found: from the bulk read, or, when that lacks it (no
    plan tag, or too new for the eventually consistent Tagging API), from `read_one` (the
    service's own ListTagsForResource, strongly consistent). So a resource this plan made a
    moment ago is still recognised as its own, and a look-alike without our tags costs one
    read, as before; in the steady state nothing is read one by one."""
    found = tagged_resources(ctx, region).get(arn)
    return found if found is not None else read_one()
