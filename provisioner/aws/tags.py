"""Tag helpers for the services' different tag shapes, and tag-filtered discovery filters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from provisioner.constants import TAG_KEY, TAG_PLAN


def to_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """EC2/IAM/RDS shape: [{"Key": k, "Value": v}]."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def from_list(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or ()}


def tag_specifications(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, object]]:
    """Tags applied atomically with the create, so a crash never leaves an untagged orphan."""
    return [{"ResourceType": resource_type, "Tags": to_list(tags)}]


def plan_filter(plan: str) -> list[dict[str, object]]:
    """EC2 Describe* filter: resources of this plan only (one call per kind, server-side)."""
    return [{"Name": f"tag:{TAG_PLAN}", "Values": [plan]}]


def key_of(tags: Mapping[str, str]) -> str | None:
    return tags.get(TAG_KEY)


def owned_key(tags: Mapping[str, str], plan: str) -> str | None:
    """The logical key of a resource this plan owns, or None: no key tag, or another plan's.

    Discovery checks ownership here even after a server-side tag filter, so a service that
    ignores a filter can never make a plan adopt another plan's resource.
    """
    key = tags.get(TAG_KEY)
    return key if key is not None and tags.get(TAG_PLAN) == plan else None
