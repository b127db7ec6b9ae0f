"""Batched, tag-filtered reads: one describe per kind, all pages, filtered server-side."""

from __future__ import annotations

from typing import Any

from provisioner.aws.tags import plan_filter
from provisioner.engine.context import RunContext


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
    per run, shared by the role kinds (plan roles, CI roles, service-linked roles).

    IAM has no tag-filtered list, and ListRoles returns neither tags nor policies, so reading
    roles one by one costs a GetRole, a ListAttachedRolePolicies, a ListRolePolicies and a
    GetRolePolicy per inline policy for every role (about 4 calls a role); this is what Cloud
    Custodian and AWS Config do instead. Callers filter by path and ownership tags themselves.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html
    """

    def read() -> dict[str, dict[str, Any]]:
        iam = ctx.aws.client("iam")
        return {
            role["RoleName"]: role
            for role in describe_all(iam, "get_account_authorization_details", "RoleDetailList", Filter=["Role"])
        }

    return ctx.cached(("iam", "account-authorization-details", "Role"), read)
