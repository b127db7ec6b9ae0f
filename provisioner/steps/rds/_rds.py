"""What the RDS kinds share: names, calls, ownership, and comparisons that tolerate AWS.

- Names: RDS identifiers are lowercase, start with a letter, have no `--` and no trailing `-`
  (63 characters for instances, 255 for groups and snapshots); `rds_name` makes a valid,
  deterministic one from plan and key parts.
- Ownership: DescribeDBInstances returns `TagList`, DescribeDBSubnetGroups and
  DescribeDBParameterGroups do not (nor does RDS filter describes by tag), so the group kinds
  take the tags of the groups named like this plan's (`<plan>-...`) from the run's one bulk
  read (Resource Groups Tagging API) and keep those carrying the plan's ownership tags. That
  API is eventually consistent, so a group it does not know yet (made a moment ago) has its
  tags read with ListTagsForResource, which is strongly consistent (`aws.discovery.tags_of`).
- "Not found" codes differ per RDS resource and do not all end in `NotFound`; deletes treat
  them as success. Groups still used by an instance that is being deleted answer
  `Invalid...State`, which is temporary.
- `AtLeast` / `AtLeastVersion` / `Includes`: desired values that accept what AWS does on its
  own, so it never shows as drift: storage autoscaling grows `AllocatedStorage`, automatic
  minor version upgrades raise `EngineVersion` (RDS refuses downgrades, so a diff would stay
  forever), and parameters someone else set in the group are left alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

from provisioner.aws.calls import call
from provisioner.aws.discovery import tagged_resources, tags_of
from provisioner.aws.errors import (
    TEMPORARY_CODES,
    ClientError,
    as_provisioner_error,
    error_code,
    is_not_found,
)
from provisioner.aws.tags import from_list, key_of
from provisioner.constants import TAG_PLAN
from provisioner.engine import PermanentError, ProtectedPlanError, RunContext, TemporaryError

RDS_NOT_FOUND = frozenset(
    {
        "DBInstanceNotFound",
        "DBSubnetGroupNotFoundFault",
        "DBParameterGroupNotFound",
        "DBSnapshotNotFound",
        "DBInstanceAutomatedBackupNotFound",
    }
)
RDS_TEMPORARY = TEMPORARY_CODES | {
    "InvalidDBSubnetGroupStateFault",
    "InvalidDBParameterGroupState",
    "InvalidDBInstanceState",
}


def rds_name(*parts: str, max_length: int = 63) -> str:
    """`rds_name("dev", "postgres")` -> `dev-postgres`: a valid RDS identifier, deterministic."""
    text = re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())
    text = re.sub(r"-{2,}", "-", text).strip("-")
    if not text or not text[0].isalpha():
        text = f"db-{text}".rstrip("-")
    if len(text) > max_length:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = f"{text[: max_length - 9].rstrip('-')}-{digest}"
    return text


def is_rds_not_found(exc: BaseException) -> bool:
    return error_code(exc) in RDS_NOT_FOUND or is_not_found(exc)


def rds_error(exc: ClientError, key: str, hint: str | None = None) -> Exception:
    return as_provisioner_error(exc, key=key, hint=hint, temporary=RDS_TEMPORARY)


def rds_call(
    ctx: RunContext,
    key: str,
    operation: str,
    *,
    region: str | None = None,
    missing_ok: bool = False,
    hint: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Call an RDS operation, mapping errors to the engine's taxonomy (`missing_ok`: for deletes)."""
    return call(
        ctx,
        "rds",
        operation,
        key=key,
        region=region,
        missing_ok=missing_ok,
        is_missing=is_rds_not_found,
        temporary=RDS_TEMPORARY,
        hint=hint,
        **params,
    )


def delete_group(ctx: RunContext, key: str, operation: str, **params: Any) -> None:
    """Delete a subnet or parameter group. The plan's instance is gone before its groups are
    (the graph's order), so a group still in use serves a DB instance that is not the plan's:
    say which (RDS names it) rather than wait for something that will not go by itself."""
    try:
        rds_call(ctx, key, operation, missing_ok=True, **params)
    except TemporaryError as exc:
        if exc.code not in ("InvalidDBSubnetGroupStateFault", "InvalidDBParameterGroupState"):
            raise
        raise PermanentError(
            exc.message,
            key=key,
            code=exc.code,
            hint=f"a DB instance this plan does not own uses it: a restore drill is listed by "
            f"`provisioner restore {ctx.plan_name} --list` and deleted with `--delete NAME`; "
            "delete it, then run destroy again",
        ) from exc


def owned_groups(
    ctx: RunContext, client: Any, items: list[dict[str, Any]], name_field: str, arn_field: str
) -> Iterator[tuple[dict[str, Any], dict[str, str], str]]:
    """(item, tags, key) for the groups this plan owns, among those named like its groups."""
    prefix = rds_name(ctx.plan_name, "x")[:-1]  # "<plan>-"
    for item in items:
        if not str(item.get(name_field, "")).startswith(prefix):
            continue
        try:
            tags = tags_of(ctx, item[arn_field], partial(tags_of_group, client, item[arn_field]))
        except ClientError as exc:
            if is_rds_not_found(exc):  # deleted since the describe
                continue
            raise
        key = key_of(tags)
        if key is not None and tags.get(TAG_PLAN) == ctx.plan_name:
            yield item, tags, key


def group_arn(ctx: RunContext, resource_type: str, name: str) -> str:
    """An RDS group's ARN in the run's account and region (`pg`: a DB parameter group,
    `subgrp`: a DB subnet group)."""
    return f"arn:{ctx.aws.partition}:rds:{ctx.aws.region}:{ctx.aws.account_id}:{resource_type}:{name}"


def tagged_group_names(ctx: RunContext, resource_type: str) -> set[str]:
    """Names of the groups of `resource_type` the run's bulk tag read knows as this plan's
    (tagged with the plan and a node key)."""
    prefix = group_arn(ctx, resource_type, "")
    return {
        arn[len(prefix) :]
        for arn, tags in tagged_resources(ctx).items()
        if arn.startswith(prefix) and tags.get(TAG_PLAN) == ctx.plan_name and key_of(tags)
    }


def tags_of_group(client: Any, arn: str) -> dict[str, str]:
    return from_list(client.list_tags_for_resource(ResourceName=arn).get("TagList"))


def destroy_allowed(ctx: RunContext) -> bool:
    """Whether a destroy of this plan was confirmed: unprotected plans always; protected ones
    only after `--allow-protected` and the plan name typed back (the CLI sets the flag)."""
    return not ctx.plan.protected or bool(getattr(ctx, "allow_protected", False))


def refuse_unless_destroy_allowed(ctx: RunContext, key: str, what: str) -> None:
    if not destroy_allowed(ctx):
        raise ProtectedPlanError(
            f"plan {ctx.plan_name} is protected: {what} is not deleted",
            key=key,
            hint=f"destroy {ctx.plan_name} --allow-protected, then type the plan name back",
        )


class AtLeast(int):
    """A desired size that AWS may exceed on its own (storage autoscaling): equal to any
    integer at least as large. Python asks a subclass first, so `live == AtLeast(n)` uses it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and not isinstance(other, bool) and other >= int(self)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = int.__hash__


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


class AtLeastVersion(str):
    """A desired engine version that automatic minor upgrades may raise: equal to any version
    of the same major that is at least as new."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        have, want = _version(other), _version(str(self))
        return bool(have) and bool(want) and have[0] == want[0] and have >= want

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


class Includes(dict):
    """Desired entries of a mapping that may hold others (parameters set outside the plan)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and all(other.get(k) == v for k, v in self.items())

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None
