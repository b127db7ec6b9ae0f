"""Who made a resource that blocks a deletion, and what to do about it (aws/blockers.py's
wording): our ownership tags, a controller's cluster tag, or the AWS service that made a
network interface, read from its description as the console shows it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from provisioner.aws.controllers import CLUSTER_KEY_PREFIX, CLUSTER_VALUE_TAGS
from provisioner.constants import TAG_KEY, TAG_PLAN

# Descriptions AWS services give the interfaces they create in your subnets.
EKS_DESCRIPTION = re.compile(r"^Amazon EKS (?P<cluster>\S+)$")
NAT_DESCRIPTION = re.compile(r"^Interface for NAT Gateway (?P<nat>nat-\w+)$")
ELB_DESCRIPTION = re.compile(r"^ELB (?P<name>(app|net|gwy)/[^/]+/\w+|[\w-]+)$")
CNI_DESCRIPTION = re.compile(r"^aws-K8S-(?P<instance>i-\w+)$")


def cluster_of(tags: Mapping[str, str]) -> str | None:
    for key, value in tags.items():
        if key.startswith(CLUSTER_KEY_PREFIX) and value in ("owned", "shared"):
            return key.removeprefix(CLUSTER_KEY_PREFIX)
    for key in CLUSTER_VALUE_TAGS:
        if tags.get(key):
            return tags[key]
    return None


def owner_of(
    tags: Mapping[str, str],
    *,
    description: str = "",
    interface_type: str = "",
    requester: str = "",
    default: str = "untagged",
) -> str:
    """Who made it, in a few words: our ownership tags, a controller's cluster tag, or the AWS
    service that made an interface (read from its description, as the console shows it)."""
    if tags.get(TAG_PLAN):
        return f"{TAG_PLAN}={tags[TAG_PLAN]} key={tags.get(TAG_KEY, '?')}"
    for key, value in tags.items():
        if key.startswith(CLUSTER_KEY_PREFIX):
            return f"{key}={value}"
    for key in CLUSTER_VALUE_TAGS:
        if tags.get(key):
            return f"{key}={tags[key]}"
    if match := EKS_DESCRIPTION.match(description):
        return f"created by EKS for cluster {match.group('cluster')}"
    if match := NAT_DESCRIPTION.match(description):
        return f"NAT gateway {match.group('nat')}"
    if interface_type == "nat_gateway":
        return "NAT gateway"
    if match := ELB_DESCRIPTION.match(description):
        return f"ELB {match.group('name')}"
    if description.startswith("RDSNetworkInterface") or requester == "amazon-rds":
        return "RDS"
    if match := CNI_DESCRIPTION.match(description):
        return f"VPC CNI of instance {match.group('instance')}"
    if tags.get("Name"):
        return f"Name={tags['Name']}"
    return default


def by_whom(tags: Mapping[str, str], suffix: str = "") -> str:
    """`: destroy <plan> deletes it` for a plan's own resources, else nothing."""
    plan = tags.get(TAG_PLAN)
    return f"{suffix}: `destroy {plan}` deletes it" if plan else ""


def controller_hint(tags: Mapping[str, str], what: str, action: str, fallback: str | None = None) -> str:
    cluster = cluster_of(tags)
    if tags.get(TAG_PLAN):
        return f"{action}: `destroy {tags[TAG_PLAN]}` deletes it"
    if cluster:
        return f"{what} made by a controller in cluster {cluster}: `destroy` sweeps it; delete it by hand if untagged"
    return fallback or f"{what} nobody tagged: {action} by hand if it is yours"


def elb_name(arn: str) -> str:
    # arn:<partition>:elasticloadbalancing:region:account:loadbalancer/app/name/id -> app/name/id
    return arn.split(":loadbalancer/", 1)[-1]


def tag_text(tags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
