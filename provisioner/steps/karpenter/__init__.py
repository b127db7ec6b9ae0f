"""The Karpenter step: AWS prerequisites in `aws_side.py`, the in-cluster install in
`cluster.py` (its kinds in `kinds.py`), the manifests in `manifests.py`."""

from __future__ import annotations

from provisioner.engine import Resource
from provisioner.planfile import Plan
from provisioner.steps.karpenter import cluster
from provisioner.steps.karpenter.aws_side import (
    CONTROLLER_ROLE,
    EVENT_RULES,
    NAMESPACE,
    NODE_ACCESS_ENTRY,
    NODE_ROLE,
    POD_IDENTITY,
    QUEUE,
    SERVICE_ACCOUNT,
    aws_resources,
    controller_inline_policies,
)

__all__ = [
    "CONTROLLER_ROLE",
    "EVENT_RULES",
    "NAMESPACE",
    "NODE_ACCESS_ENTRY",
    "NODE_ROLE",
    "POD_IDENTITY",
    "QUEUE",
    "SERVICE_ACCOUNT",
    "aws_resources",
    "controller_inline_policies",
    "resources",
]


def resources(plan: Plan, region: str) -> list[Resource]:
    return [*aws_resources(plan, region), *cluster.resources(plan, region)]
