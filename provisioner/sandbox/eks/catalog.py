"""What EKS offers, as a fixed snapshot: Kubernetes and platform versions, node AMI releases,
the add-on catalog with its default versions, and the access policies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SUPPORTED_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")
# What EKS uses when CreateCluster has no version (EKS's "default version").
DEFAULT_VERSION = "1.34"
PLATFORM_VERSIONS = {"1.31": "eks.44", "1.32": "eks.27", "1.33": "eks.20", "1.34": "eks.11", "1.35": "eks.4"}
# Latest EKS-optimized AMI release per version (what a managed node group reports).
NODE_RELEASE_VERSIONS = {
    "1.31": "1.31.13-20251120",
    "1.32": "1.32.9-20251120",
    "1.33": "1.33.5-20251120",
    "1.34": "1.34.2-20251120",
    "1.35": "1.35.0-20251120",
}
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
AUTH_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")  # EKS only moves rightwards
ACCESS_ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "EC2")
NODE_ENTRY_TYPES = ("EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "EC2")
# Managed policies CreateNodegroup insists the node role has (either ECR policy will do).
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy",)
NODE_ROLE_ECR_POLICIES = ("AmazonEC2ContainerRegistryReadOnly", "AmazonEC2ContainerRegistryPullOnly")

ALL_VERSIONS = SUPPORTED_VERSIONS


@dataclass(frozen=True)
class AddonVersion:
    version: str
    cluster_versions: tuple[str, ...]
    default_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddonSpec:
    name: str
    type: str
    versions: tuple[AddonVersion, ...]  # newest first, as DescribeAddonVersions lists them
    requires_iam: bool = False
    compute_types: tuple[str, ...] = ("ec2",)
    namespace: str = "kube-system"
    # Service accounts that may get a pod identity association through the add-on, with the
    # managed policy EKS recommends for them.
    pod_identity: dict[str, str] = field(default_factory=dict)


def _kube_proxy_versions() -> tuple[AddonVersion, ...]:
    pairs = {
        "1.35": ("v1.35.1-eksbuild.1", "v1.35.0-eksbuild.2"),
        "1.34": ("v1.34.1-eksbuild.2", "v1.34.0-eksbuild.2"),
        "1.33": ("v1.33.5-eksbuild.2", "v1.33.0-eksbuild.2"),
        "1.32": ("v1.32.9-eksbuild.2", "v1.32.0-eksbuild.2"),
        "1.31": ("v1.31.13-eksbuild.2", "v1.31.2-eksbuild.3"),
    }
    versions = []
    for cluster_version, (latest, default) in pairs.items():
        # kube-proxy tracks the control plane: each build fits exactly one minor version.
        versions.append(AddonVersion(latest, (cluster_version,)))
        versions.append(AddonVersion(default, (cluster_version,), (cluster_version,)))
    return tuple(versions)


ADDON_CATALOG: dict[str, AddonSpec] = {
    spec.name: spec
    for spec in (
        AddonSpec(
            "coredns",
            "networking",
            (
                AddonVersion("v1.13.1-eksbuild.1", ("1.34", "1.35"), ("1.35",)),
                AddonVersion("v1.12.4-eksbuild.1", ("1.33", "1.34", "1.35"), ("1.34",)),
                AddonVersion("v1.12.1-eksbuild.2", ("1.33", "1.34"), ("1.33",)),
                AddonVersion("v1.11.4-eksbuild.24", ("1.31", "1.32")),
                AddonVersion("v1.11.4-eksbuild.2", ("1.31", "1.32"), ("1.32",)),
                AddonVersion("v1.11.3-eksbuild.1", ("1.31",), ("1.31",)),
            ),
            compute_types=("ec2", "fargate", "hybrid"),
        ),
        AddonSpec(
            "eks-pod-identity-agent",
            "security",
            (
                AddonVersion("v1.3.10-eksbuild.1", ALL_VERSIONS),
                AddonVersion("v1.3.9-eksbuild.5", ALL_VERSIONS, ALL_VERSIONS),
                AddonVersion("v1.3.4-eksbuild.1", ("1.31", "1.32", "1.33")),
            ),
            compute_types=("ec2", "hybrid"),
        ),
        AddonSpec("kube-proxy", "networking", _kube_proxy_versions(), compute_types=("ec2", "hybrid")),
        AddonSpec(
            "vpc-cni",
            "networking",
            (
                AddonVersion("v1.21.1-eksbuild.1", ALL_VERSIONS),
                AddonVersion("v1.20.4-eksbuild.1", ALL_VERSIONS, ALL_VERSIONS),
                AddonVersion("v1.20.1-eksbuild.3", ALL_VERSIONS),
                AddonVersion("v1.19.6-eksbuild.7", ("1.31", "1.32", "1.33", "1.34")),
                AddonVersion("v1.19.2-eksbuild.1", ("1.31", "1.32", "1.33")),
            ),
            requires_iam=True,
            pod_identity={"aws-node": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
        ),
    )
}

# ListAccessPolicies (names as EKS publishes them).
ACCESS_POLICY_NAMES = (
    "AmazonAIOpsAssistantPolicy",
    "AmazonARCRegionSwitchScalingPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStorageClusterPolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSClusterInsightsPolicy",
    "AmazonEKSComputeClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSHybridPolicy",
    "AmazonEKSLoadBalancingClusterPolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingClusterPolicy",
    "AmazonEKSNetworkingPolicy",
    "AmazonEKSSecretReaderPolicy",
    "AmazonEKSViewPolicy",
    "AmazonEMRJobPolicy",
)
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


def access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def minor_version(version: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def default_addon_version(addon_name: str, cluster_version: str) -> str | None:
    spec = ADDON_CATALOG.get(addon_name)
    if spec is None:
        return None
    for version in spec.versions:
        if cluster_version in version.default_for:
            return version.version
    return None
