"""Names shared by every layer: ownership tags and naming rules (SPEC section 5)."""

from __future__ import annotations

import hashlib

TAG_PLAN = "provisioner:plan"
TAG_KEY = "provisioner:key"
TAG_MANAGED_BY = "ManagedBy"
MANAGED_BY = "provisioner"

OWNERSHIP_TAG_KEYS = (TAG_PLAN, TAG_KEY, TAG_MANAGED_BY)
# The keys of the plan's and node's tags the tool set on a resource, so it can remove those
# the plan no longer lists and no other (engine/tags.py). Continued in `provisioner:tags:2`...
TAG_MANAGED_TAGS = "provisioner:tags"
# What a destroy leaves on a KMS key it is scheduling for deletion instead of the ownership
# tags (`<plan>/<key>`), so a run killed in between finishes the job (steps/kms/keys.py).
TAG_DELETING_FROM = "provisioner:deleting-from"

# IAM roles and policies live under this path so one ListRoles call finds a plan's roles.
IAM_PATH_ROOT = "/provisioner/"


def iam_path(plan: str) -> str:
    return f"{IAM_PATH_ROOT}{plan}/"


def ownership_tags(plan: str, key: str) -> dict[str, str]:
    return {TAG_PLAN: plan, TAG_KEY: key, TAG_MANAGED_BY: MANAGED_BY}


def idempotency_token(plan: str, key: str, *salt: str) -> str:
    """A ClientToken derived from plan and key (64 characters max, per EC2's rules).

    The same create retried after a crash sends the same token, so AWS returns the resource
    it already made instead of a second one. `salt` distinguishes deliberate re-creates (for
    example a NAT gateway replacing one that failed), which must not reuse a spent token.
    """
    digest = hashlib.sha256("|".join((plan, key, *salt)).encode()).hexdigest()
    return f"prov-{digest[:58]}"


def resource_name(plan: str, key: str, max_length: int = 64) -> str:
    """A deterministic name for resources named rather than tagged: `dev-flow-logs-role`."""
    slug = key.replace("/", "-")
    name = f"{plan}-{slug}"
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_length - 9]}-{digest}"


def cluster_name(plan: str) -> str:
    """The EKS cluster of an environment plan; also the value of `karpenter.sh/discovery`."""
    return f"{plan}-eks"
