"""Node keys that more than one step names: each is typed here once.

A step that makes the node re-exports its key (`network.VPC`, `eks.CLUSTER`); another step
that depends on it, or orders itself against it (cleanup, transit, karpenter, rds), imports
it from here rather than from the step that makes it.
"""

from __future__ import annotations

from provisioner.planfile import EnvironmentPlan

# network
VPC = "network/vpc"


def zone_suffix(az: str) -> str:
    """us-east-1a -> a: short, stable key parts."""
    return az[-1]


def subnet_key(tier: str, az: str) -> str:
    return f"network/subnet/{tier}-{zone_suffix(az)}"


def private_route_key(az: str) -> str:
    return f"network/route-table/private-{zone_suffix(az)}"


def private_subnet_keys(spec: EnvironmentPlan) -> list[str]:
    return [subnet_key("private", az) for az in spec.network.availability_zones]


def private_route_keys(spec: EnvironmentPlan) -> list[str]:
    return [private_route_key(az) for az in spec.network.availability_zones]


# eks
CLUSTER = "eks/cluster"
CLUSTER_SG = "eks/cluster-security-group"
NODE_SG = "eks/node-security-group"
NODE_ROLE = "eks/node-role"
NODEGROUP = "eks/nodegroup/system"
TOOL_ACCESS = "eks/access/tool-admin"  # the access entry of the role the tool runs as


def addon_key(name: str) -> str:
    return f"eks/addon/{name}"


# karpenter
KARPENTER_NODE_ROLE = "karpenter/node-role"
