"""The EKS APIs moto lacks or gets wrong, answered the way EKS answers them.

A WSGI layer in front of moto's app (`wrap`). It recognises EKS calls by the SigV4
credential scope (`.../<region>/eks/aws4_request`), answers the operations below, and passes
everything else to moto. State is per account (derived from the access key exactly as moto
does) and region; clusters themselves stay in moto's EKS backend, which this module reads and
amends. `reset()` forgets everything (the server calls it on POST /moto-api/reset).

Implemented (paths and shapes of botocore's `eks` service model):

- Add-ons: CreateAddon, DescribeAddon, ListAddons, UpdateAddon, DeleteAddon,
  DescribeAddonVersions, DescribeAddonConfiguration. A catalog of vpc-cni, kube-proxy,
  coredns and eks-pod-identity-agent for Kubernetes 1.31-1.35 with one default version per
  add-on and cluster version. Add-on pod identity associations are created, replaced and
  deleted with their add-on (their `ownerArn` is the add-on's ARN).
- Access entries: Create/Describe/List/Update/DeleteAccessEntry, Associate/Disassociate/
  ListAssociatedAccessPolicies, ListAccessPolicies. As on EKS: the cluster creator gets an
  entry with AmazonEKSClusterAdminPolicy when `bootstrapClusterCreatorAdminPermissions` is true
  (the default) and the authentication mode includes the API; managed node groups' node roles
  get an EC2_LINUX (EC2_WINDOWS for Windows AMIs) entry and Fargate pod execution roles a
  FARGATE_LINUX entry; CONFIG_MAP-only clusters refuse access-entry calls.
- Pod Identity associations: Create/Describe/List/Update/DeletePodIdentityAssociation.
- IAM propagation: CreateAccessEntry and CreatePodIdentityAssociation refuse a role of the
  cluster's account younger than its propagation delay (`iam_propagation_delay`: seeded,
  within latency-model.md's 10-120 s, times LATENCY_SCALE; none at scale 0) with the
  InvalidParameterException EKS gives ("invalid principal" / "Role provided in the request
  does not exist"), and a Pod Identity role that does not exist at all likewise.
- Clusters: CreateCluster is validated (version, role and its trust policy, subnets in two AZs
  of one VPC, security groups, KMS key, access config) and completed the way EKS completes it:
  accessConfig, upgradePolicy, endpoint access defaults, vpcId, an EKS-created cluster security
  group (really created in EC2, deleted with the cluster), a per-cluster endpoint and OIDC
  issuer, the service CIDR EKS picks. UpdateClusterConfig (endpoint access, VPC subnets and
  security groups, logging, authentication mode, upgrade policy; one kind per call, as on
  EKS; new subnets must cover exactly the AZs the cluster was created in), UpdateClusterVersion (exactly one minor up, node groups first), AssociateEncryptionConfig,
  DescribeUpdate, ListUpdates. DeleteCluster removes the cluster's add-ons, access entries, pod
  identity associations and security group, then calls the `on_cluster_deleted` hooks.
- Node groups: CreateNodegroup is validated (node role exists, trusts ec2.amazonaws.com, has
  the managed policies EKS demands; subnets exist; scaling sizes) and defaults like EKS (the
  cluster's version, AL2023 AMI type, no remote access unless asked). UpdateNodegroupConfig
  and UpdateNodegroupVersion return real `update` records (moto's params are not valid
  UpdateParam types, and UpdateNodegroupVersion is missing).
- TagResource/UntagResource/ListTagsForResource for every EKS ARN (moto knows only clusters).

Timing. Every transitional record has a `ready_at` of now + p50 x `LATENCY_SCALE` seconds
(`P50_SECONDS`, from latency-model.md). Until then EKS's transitional states are reported
(cluster CREATING/UPDATING/DELETING, node group CREATING/UPDATING/DELETING, add-on
CREATING/UPDATING/DELETING, update InProgress); states settle at the start of every EKS
request. With the default scale 0 everything is final at once. Create and delete responses
report CREATING/DELETING even then, because EKS's responses always do.

Node groups have instances: `eks_nodes` launches and terminates them in moto's EC2 as the
group's desired size and status say, and hands their Nodes to the Kubernetes emulator.

Hooks for the Kubernetes API emulator: `CLUSTER_ENDPOINT_PROVIDER(account, region, name)`
may return `(endpoint, ca_base64)` to replace what CreateCluster/DescribeCluster report, and
`on_cluster_deleted(callback)` registers `callback(account, region, name)`, called once a
cluster is gone.

Where this differs from AWS (known):
- Error messages are EKS's where they are published; the rest are close paraphrases.
- Principals and roles are checked against IAM only in the cluster's own account; ARNs in
  other accounts are accepted unchecked.
- The cluster creator is the identity moto's STS reports for the CreateCluster caller's key:
  the IAM role of an assumed-role session (EKS names the role, not the session), an IAM user,
  or, for keys moto does not know (the `testing` key), moto's stand-in user "moto"
  (`arn:aws:iam::ACCOUNT:user/moto`, or the `sts` form moto itself answers), which IAM does not
  have but which EKS calls here accept as an existing IAM user, so that a tool can give its
  own caller an entry. Clusters created directly in moto's backend get the
  identity of the first EKS caller that touches them.
- Not published, so chosen here: the access-entry ARN of the root principal
  (`.../root/ACCOUNT/UUID`); the Kubernetes groups of FARGATE_LINUX/HYBRID_LINUX entries; that
  an unknown access policy ARN is InvalidParameterException; that add-ons are not downgraded;
  that a node role's automatic entry stays after its node group is deleted; that add-on-owned
  pod identity associations may be deleted directly.
- Nothing runs in Kubernetes: add-ons, policies and associations are bookkeeping only, so
  coredns becomes ACTIVE without nodes (on EKS it waits for them) and `preserve` on
  DeleteAddon changes nothing.
- upgradePolicy defaults to EXTENDED, as EKS documents; clientRequestToken idempotency is
  implemented for CreateAccessEntry, CreatePodIdentityAssociation and CreateAddon (the same
  token answers with what the first call made while it exists; with a different request it
  is InvalidParameterException, a message chosen here); CreateNodegroup's token is moto's; UpdateClusterConfig supports the fields listed above (others, e.g. Auto Mode's
  computeConfig, answer InvalidParameterException); DescribeClusterVersions is not implemented.
- The add-on catalog is a fixed, realistic snapshot, not AWS's live list.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import logging
import math
import os
import random
import re
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote

from provisioner.sandbox import eks_nodes

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# ------------------------------------------------------------------------------- settings

# Seconds of simulated work = p50 x LATENCY_SCALE. 0 makes everything final at once; 1 is real
# AWS time. Read on every call, so setting it at runtime takes effect for new operations.
LATENCY_SCALE: float = 0.0

# p50 seconds from /work/shared/latency-model.md ("est" where the model has no row).
P50_SECONDS: dict[str, float] = {
    "cluster_create": 570,
    "cluster_delete": 150,
    "cluster_config_update": 240,  # est: endpoint/logging/access updates take a few minutes
    "cluster_version_update": 480,  # est
    "cluster_encryption_update": 300,  # est
    "nodegroup_create": 110,
    "nodegroup_delete": 300,
    "nodegroup_update": 300,  # est: a rolling update of a small group
    "addon:vpc-cni": 40,
    "addon:eks-pod-identity-agent": 25,
    "addon:kube-proxy": 25,
    "addon:coredns": 15,
    "addon_update": 15,  # est
    "addon_delete": 10,  # est
}

# IAM propagation (latency-model.md: p50 10 s, p95 120 s): EKS does not see a role this young
# yet. Each role gets its own delay, drawn from a log-normal with that median and 95th
# percentile (capped at p95) by a generator seeded with IAM_PROPAGATION_SEED and the role's
# ARN, so a run is repeatable; scaled by LATENCY_SCALE like everything else (0: none).
IAM_PROPAGATION_P50 = 10.0
IAM_PROPAGATION_P95 = 120.0
IAM_PROPAGATION_SEED = 0

# Set by the Kubernetes API emulator: (account, region, cluster name) -> (endpoint, CA data in
# base64) or None to keep moto's values. Used in CreateCluster and DescribeCluster responses.
CLUSTER_ENDPOINT_PROVIDER: Callable[[str, str, str], tuple[str, str] | None] | None = None

# Called as callback(account, region, cluster_name) after a cluster is gone. Registrations are
# code, not simulated state: reset() keeps them.
CLUSTER_DELETED_HOOKS: list[Callable[[str, str, str], None]] = []


def on_cluster_deleted(callback: Callable[[str, str, str], None]) -> Callable[[str, str, str], None]:
    """Register `callback(account, region, name)` for cluster deletions (usable as a decorator)."""
    CLUSTER_DELETED_HOOKS.append(callback)
    return callback


def pod_identity_role_arn(account: str, region: str, cluster: str, namespace: str, service_account: str) -> str | None:
    """The role a Pod Identity association gives pods of a service account (what the EKS Pod
    Identity agent would hand them), or None; for sandbox actors that act as that role."""
    with _lock:
        state = _clusters.get((account, region, cluster))
        if state is None:
            return None
        for association in state.associations.values():
            if association.namespace == namespace and association.service_account == service_account:
                return association.role_arn
    return None


def _delay(kind: str) -> float:
    return max(0.0, float(LATENCY_SCALE)) * P50_SECONDS[kind]


def _clock() -> float:
    """Wall-clock seconds; the single time source (tests may replace it)."""
    return time.time()


# -------------------------------------------------------------------------------- catalogs

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

_ALL = SUPPORTED_VERSIONS


@dataclass(frozen=True)
class _AddonVersion:
    version: str
    cluster_versions: tuple[str, ...]
    default_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class _AddonSpec:
    name: str
    type: str
    versions: tuple[_AddonVersion, ...]  # newest first, as DescribeAddonVersions lists them
    requires_iam: bool = False
    compute_types: tuple[str, ...] = ("ec2",)
    namespace: str = "kube-system"
    # Service accounts that may get a pod identity association through the add-on, with the
    # managed policy EKS recommends for them.
    pod_identity: dict[str, str] = field(default_factory=dict)


def _kube_proxy_versions() -> tuple[_AddonVersion, ...]:
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
        versions.append(_AddonVersion(latest, (cluster_version,)))
        versions.append(_AddonVersion(default, (cluster_version,), (cluster_version,)))
    return tuple(versions)


ADDON_CATALOG: dict[str, _AddonSpec] = {
    spec.name: spec
    for spec in (
        _AddonSpec(
            "coredns",
            "networking",
            (
                _AddonVersion("v1.13.1-eksbuild.1", ("1.34", "1.35"), ("1.35",)),
                _AddonVersion("v1.12.4-eksbuild.1", ("1.33", "1.34", "1.35"), ("1.34",)),
                _AddonVersion("v1.12.1-eksbuild.2", ("1.33", "1.34"), ("1.33",)),
                _AddonVersion("v1.11.4-eksbuild.24", ("1.31", "1.32")),
                _AddonVersion("v1.11.4-eksbuild.2", ("1.31", "1.32"), ("1.32",)),
                _AddonVersion("v1.11.3-eksbuild.1", ("1.31",), ("1.31",)),
            ),
            compute_types=("ec2", "fargate", "hybrid"),
        ),
        _AddonSpec(
            "eks-pod-identity-agent",
            "security",
            (
                _AddonVersion("v1.3.10-eksbuild.1", _ALL),
                _AddonVersion("v1.3.9-eksbuild.5", _ALL, _ALL),
                _AddonVersion("v1.3.4-eksbuild.1", ("1.31", "1.32", "1.33")),
            ),
            compute_types=("ec2", "hybrid"),
        ),
        _AddonSpec("kube-proxy", "networking", _kube_proxy_versions(), compute_types=("ec2", "hybrid")),
        _AddonSpec(
            "vpc-cni",
            "networking",
            (
                _AddonVersion("v1.21.1-eksbuild.1", _ALL),
                _AddonVersion("v1.20.4-eksbuild.1", _ALL, _ALL),
                _AddonVersion("v1.20.1-eksbuild.3", _ALL),
                _AddonVersion("v1.19.6-eksbuild.7", ("1.31", "1.32", "1.33", "1.34")),
                _AddonVersion("v1.19.2-eksbuild.1", ("1.31", "1.32", "1.33")),
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


def _access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _minor(version: str) -> tuple[int, int] | None:
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


# ---------------------------------------------------------------------------------- errors


class EksError(Exception):
    """An EKS error response: HTTP status, the code botocore reports, EKS's JSON body."""

    STATUS: ClassVar[dict[str, int]] = {
        "InvalidParameterException": 400,
        "InvalidRequestException": 400,
        "BadRequestException": 400,
        "ResourceNotFoundException": 404,
        "NotFoundException": 404,
        "ResourceInUseException": 409,
        "ServerException": 500,
    }

    def __init__(
        self,
        code: str,
        message: str,
        *,
        cluster: str | None = None,
        nodegroup: str | None = None,
        addon: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = self.STATUS[code]
        self.message = message
        self.fields = {"clusterName": cluster, "nodegroupName": nodegroup, "addonName": addon}

    def body(self) -> dict[str, Any]:
        if self.code in ("NotFoundException", "BadRequestException"):
            return {"message": self.message}
        # EKS sends every member of the exception shape, null where it does not apply.
        body: dict[str, Any] = dict(self.fields)
        if self.code != "ResourceInUseException":
            body.setdefault("fargateProfileName", None)
            body["subscriptionId"] = None
        body["message"] = self.message
        return body


def _invalid(message: str, **fields: str | None) -> EksError:
    return EksError("InvalidParameterException", message, **fields)


def _cluster_not_found(name: str) -> EksError:
    return EksError("ResourceNotFoundException", f"No cluster found for name: {name}.", cluster=name)


def _nodegroup_not_found(cluster: str, name: str) -> EksError:
    return EksError(
        "ResourceNotFoundException", f"No node group found for name: {name}.", cluster=cluster, nodegroup=name
    )


def _addon_not_found(cluster: str, name: str) -> EksError:
    return EksError(
        "ResourceNotFoundException", f"No addon: {name} found in cluster: {cluster}", cluster=cluster, addon=name
    )


def _entry_not_found(cluster: str) -> EksError:
    return EksError(
        "ResourceNotFoundException",
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
        cluster=cluster,
    )


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise _invalid(f"{name} is required")


# --------------------------------------------------------------------------------- records


def _ts(value: float) -> float:
    """EKS timestamps on the wire: epoch seconds."""
    return round(value, 3)


@dataclass
class _Update:
    """An `Update` (DescribeUpdate); `apply` makes the change real when the update completes."""

    id: str
    type: str
    params: list[dict[str, str]]
    created_at: float
    ready_at: float
    nodegroup: str | None = None
    addon: str | None = None
    apply: Callable[[], None] | None = None
    status: str = "InProgress"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "params": self.params,
            "createdAt": _ts(self.created_at),
            "errors": [],
        }


@dataclass
class _PodIdentity:
    id: str
    arn: str
    cluster: str
    namespace: str
    service_account: str
    role_arn: str
    created_at: float
    modified_at: float
    tags: dict[str, str] = field(default_factory=dict)
    owner_arn: str | None = None
    disable_session_tags: bool | None = None
    target_role_arn: str | None = None
    external_id: str | None = None
    policy: str | None = None

    def summary(self) -> dict[str, Any]:
        out = {
            "clusterName": self.cluster,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "associationArn": self.arn,
            "associationId": self.id,
        }
        if self.owner_arn:
            out["ownerArn"] = self.owner_arn
        return out

    def to_json(self) -> dict[str, Any]:
        out = self.summary()
        out.update(
            roleArn=self.role_arn,
            tags=dict(self.tags),
            createdAt=_ts(self.created_at),
            modifiedAt=_ts(self.modified_at),
            disableSessionTags=bool(self.disable_session_tags),
        )
        for key, value in (
            ("targetRoleArn", self.target_role_arn),
            ("externalId", self.external_id),
            ("policy", self.policy),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass
class _AccessPolicyAssociation:
    policy_arn: str
    scope: dict[str, Any]
    associated_at: float
    modified_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "policyArn": self.policy_arn,
            "accessScope": self.scope,
            "associatedAt": _ts(self.associated_at),
            "modifiedAt": _ts(self.modified_at),
        }


@dataclass
class _AccessEntry:
    cluster: str
    principal_arn: str
    arn: str
    type: str
    username: str
    kubernetes_groups: list[str]
    created_at: float
    modified_at: float
    tags: dict[str, str] = field(default_factory=dict)
    policies: dict[str, _AccessPolicyAssociation] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "clusterName": self.cluster,
            "principalArn": self.principal_arn,
            "kubernetesGroups": list(self.kubernetes_groups),
            "accessEntryArn": self.arn,
            "createdAt": _ts(self.created_at),
            "modifiedAt": _ts(self.modified_at),
            "tags": dict(self.tags),
            "username": self.username,
            "type": self.type,
        }


@dataclass
class _Addon:
    name: str
    cluster: str
    version: str
    arn: str
    created_at: float
    modified_at: float
    status: str  # CREATING, ACTIVE, UPDATING, DELETING
    ready_at: float  # when the transitional status ends
    service_account_role_arn: str | None = None
    configuration_values: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    namespace: str | None = None
    pod_identity_ids: list[str] = field(default_factory=list)

    def to_json(self, state: _ClusterState) -> dict[str, Any]:
        out: dict[str, Any] = {
            "addonName": self.name,
            "clusterName": self.cluster,
            "status": self.status,
            "addonVersion": self.version,
            "health": {"issues": []},
            "addonArn": self.arn,
            "createdAt": _ts(self.created_at),
            "modifiedAt": _ts(self.modified_at),
            "tags": dict(self.tags),
            "podIdentityAssociations": [
                state.associations[i].arn for i in self.pod_identity_ids if i in state.associations
            ],
        }
        if self.service_account_role_arn:
            out["serviceAccountRoleArn"] = self.service_account_role_arn
        if self.configuration_values is not None:
            out["configurationValues"] = self.configuration_values
        if self.namespace:
            out["namespaceConfig"] = {"namespace": self.namespace}
        return out


@dataclass
class _ClusterState:
    """What EKS keeps about a cluster that moto's Cluster object does not."""

    account: str
    region: str
    name: str
    obj: Any  # moto's Cluster; a different object under the same name means a new cluster
    creator_arn: str
    access_config: dict[str, Any]
    bootstrapped: bool = False
    addons: dict[str, _Addon] = field(default_factory=dict)
    entries: dict[str, _AccessEntry] = field(default_factory=dict)
    associations: dict[str, _PodIdentity] = field(default_factory=dict)
    updates: dict[str, _Update] = field(default_factory=dict)
    create_ready_at: float | None = None
    delete_ready_at: float | None = None
    nodegroup_timers: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (CREATING|DELETING, t)
    security_group_id: str | None = None
    # clientRequestToken -> (operation, request fingerprint, id of what it made)
    tokens: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # The AZs of the subnets given to CreateCluster: EKS never moves the control plane out
    # of them (empty for clusters moto made on its own: their current subnets' AZs count).
    zones: frozenset[str] = frozenset()

    @property
    def partition(self) -> str:
        return _partition(self.region)

    def in_progress(self, *, nodegroup: str | None = None, addon: str | None = None) -> list[_Update]:
        return [
            u
            for u in self.updates.values()
            if u.status == "InProgress" and u.nodegroup == nodegroup and u.addon == addon
        ]


_lock = threading.RLock()
_clusters: dict[tuple[str, str, str], _ClusterState] = {}
# Clusters whose deletion finished; their hooks run once the lock is released.
_gone: list[tuple[str, str, str]] = []


def reset() -> None:
    """Forget every add-on, access entry, association and update (moto forgets the clusters)."""
    with _lock:
        _clusters.clear()
        _gone.clear()
    eks_nodes.reset()


# ------------------------------------------------------------------------------ moto access


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def _eks_backend(account: str, region: str) -> Any:
    from moto.eks.models import eks_backends

    return eks_backends[account][region]


def _ec2_backend(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def _iam_backend(account: str, region: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][_partition(region)]


def _account_for(environ: dict[str, Any], access_key: str) -> str:
    """The account moto's BaseResponse.get_current_account would pick for this request."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def _caller_principal(account: str, region: str, access_key: str) -> str:
    """The IAM principal EKS records as cluster creator, consistent with what moto's STS
    GetCallerIdentity says for the same key: an assumed role's role (EKS names the role, not
    the STS session), an IAM user, or else moto's stand-in identity for keys it does not know."""
    partition = _partition(region)
    try:
        from moto.sts.models import sts_backends

        sts = sts_backends[account][partition]
        assumed = sts.get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            return str(assumed.role_arn)  # with the role's path, which the session ARN lacks
        return str(sts.get_caller_identity(access_key, region)[1])  # an IAM user or the stand-in
    except Exception:  # an identity moto cannot resolve is treated as the account root
        log.debug("cannot resolve caller identity for %s", access_key, exc_info=True)
    return f"arn:{partition}:iam::{account}:root"


# For keys it does not know (such as `testing`) moto's STS answers GetCallerIdentity with a
# stand-in user "moto" that IAM does not have: `arn:aws:sts::ACCOUNT:user/moto`, or the IAM
# form once the sandbox's fidelity patches apply. On AWS such a caller is a real IAM user, so
# EKS calls here accept the stand-in as an existing IAM user: tools can use their caller's ARN.
_MOTO_DEFAULT_IDENTITY = re.compile(r"arn:aws[a-z-]*:(?:sts|iam)::\d{12}:user/moto")


def _find_role(account: str, region: str, arn: str) -> Any | None:
    try:
        return _iam_backend(account, region).get_role_by_arn(arn)
    except Exception:
        return None


def _principal_exists(account: str, region: str, arn: str) -> bool:
    if arn.endswith(":root"):
        return True
    if ":role/" in arn:
        return _find_role(account, region, arn) is not None
    iam = _iam_backend(account, region)
    return any(user.arn == arn for user in list(iam.users.values()))


def iam_propagation_delay(role_arn: str) -> float:
    """Seconds after its creation before EKS accepts this role (0 with LATENCY_SCALE 0)."""
    scale = max(0.0, float(LATENCY_SCALE))
    if scale == 0:
        return 0.0
    rng = random.Random(f"{IAM_PROPAGATION_SEED}|{role_arn}")
    sigma = math.log(IAM_PROPAGATION_P95 / IAM_PROPAGATION_P50) / 1.645
    return min(IAM_PROPAGATION_P95, IAM_PROPAGATION_P50 * math.exp(rng.gauss(0.0, sigma))) * scale


def _arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _propagated(role: Any) -> bool:
    created = getattr(role, "create_date", None)
    if created is None:
        return True
    age = _clock() - created.replace(tzinfo=UTC).timestamp()
    return age >= iam_propagation_delay(str(role.arn))


def _replay(
    state: _ClusterState, token: Any, operation: str, fingerprint: str, exists: Callable[[str], bool]
) -> str | None:
    """What a create with this clientRequestToken made before, if it still exists (EKS's
    idempotency: the same request again is answered with the same resource)."""
    if not token or str(token) not in state.tokens:
        return None
    seen_operation, seen_fingerprint, made = state.tokens[str(token)]
    if not exists(made):
        return None
    if (seen_operation, seen_fingerprint) != (operation, fingerprint):
        raise _invalid("The clientRequestToken was already used with a different request.", cluster=state.name)
    return made


def _fingerprint(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "clientRequestToken"}, sort_keys=True, default=str)


def _trusts(role: Any, service: str) -> bool:
    return service in unquote(str(getattr(role, "assume_role_policy_document", "") or ""))


# ------------------------------------------------------------------------ state and timing


def _state(account: str, region: str, name: str, caller: Callable[[], str]) -> tuple[_ClusterState, Any]:
    """The cluster's extension state, made on first sight (a cluster created in moto's backend
    directly gets EKS's defaults). Raises ResourceNotFoundException if moto has no cluster."""
    cluster = _eks_backend(account, region).clusters.get(name)
    if cluster is None:
        _clusters.pop((account, region, name), None)
        raise _cluster_not_found(name)
    state = _clusters.get((account, region, name))
    if state is None or state.obj is not cluster:
        state = _ClusterState(
            account,
            region,
            name,
            cluster,
            caller(),
            {"bootstrapClusterCreatorAdminPermissions": True, "authenticationMode": "API_AND_CONFIG_MAP"},
        )
        _clusters[(account, region, name)] = state
        _sync_cluster_object(state)
    return state, cluster


def _sync_cluster_object(state: _ClusterState) -> None:
    """Put what moto does not model onto moto's Cluster, where its serializer finds it."""
    cluster = state.obj
    cluster.access_config = dict(state.access_config)
    if not isinstance(getattr(cluster, "upgrade_policy", None), dict):
        cluster.upgrade_policy = {"supportType": "EXTENDED"}  # EKS's default
    cluster.health = {"issues": []}
    vpc = cluster.resources_vpc_config if isinstance(cluster.resources_vpc_config, dict) else {}
    vpc.setdefault("securityGroupIds", [])
    vpc.setdefault("endpointPublicAccess", True)
    vpc.setdefault("endpointPrivateAccess", False)
    vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    cluster.resources_vpc_config = vpc


def _settle(account: str, region: str) -> None:
    """Apply every transition that is due in this account and region (call with the lock held;
    finished cluster deletions are queued in `_gone` for their hooks)."""
    now = _clock()
    for key, state in list(_clusters.items()):
        if key[0] != account or key[1] != region:
            continue
        cluster = _eks_backend(account, region).clusters.get(state.name)
        if cluster is None or cluster is not state.obj:
            del _clusters[key]
            continue
        _settle_cluster(state, cluster, now)
        if state.delete_ready_at is not None and now >= state.delete_ready_at:
            _finish_cluster_delete(state)
            _gone.append(key)


def _settle_cluster(state: _ClusterState, cluster: Any, now: float) -> None:
    # Updates first: their effects are what the resources report once they are ACTIVE again.
    for update in state.updates.values():
        if update.status == "InProgress" and now >= update.ready_at:
            if update.apply is not None:
                update.apply()
            update.status = "Successful"
    # Status changes are edge-triggered, so a status set on moto's objects from outside (a test
    # making a cluster FAILED) is left alone.
    if state.create_ready_at is not None and now >= state.create_ready_at:
        state.create_ready_at = None
        if cluster.status == "CREATING":
            cluster.status = "ACTIVE"
    if cluster.status == "UPDATING" and not state.in_progress():
        cluster.status = "ACTIVE"
    for name, (status, ready_at) in list(state.nodegroup_timers.items()):
        nodegroup = cluster.nodegroups.get(name)
        if nodegroup is None:
            del state.nodegroup_timers[name]
        elif now >= ready_at:
            del state.nodegroup_timers[name]
            if status == "DELETING":
                _drop_nodegroup(state, cluster, name)
            elif nodegroup.status == status:
                nodegroup.status = "ACTIVE"
    for name, nodegroup in cluster.nodegroups.items():
        if (
            nodegroup.status == "UPDATING"
            and name not in state.nodegroup_timers
            and not state.in_progress(nodegroup=name)
        ):
            nodegroup.status = "ACTIVE"
    eks_nodes.reconcile(state.account, state.region, cluster, state.security_group_id)
    for addon in list(state.addons.values()):
        if now < addon.ready_at:
            continue
        if addon.status == "DELETING":
            for association_id in addon.pod_identity_ids:
                state.associations.pop(association_id, None)
            del state.addons[addon.name]
            for update_id in [u.id for u in state.updates.values() if u.addon == addon.name]:
                del state.updates[update_id]
        elif addon.status in ("CREATING", "UPDATING"):
            addon.status = "ACTIVE"


def _drop_nodegroup(state: _ClusterState, cluster: Any, name: str) -> None:
    if cluster.nodegroups.pop(name, None) is not None:
        cluster.nodegroup_count -= 1
    for update_id in [u.id for u in state.updates.values() if u.nodegroup == name]:
        del state.updates[update_id]


def _finish_cluster_delete(state: _ClusterState) -> None:
    """The cluster is gone: from moto, with its security group and everything EKS kept for it."""
    backend = _eks_backend(state.account, state.region)
    if backend.clusters.get(state.name) is state.obj:
        del backend.clusters[state.name]
        backend.cluster_count -= 1
    if state.security_group_id:
        try:
            _ec2_backend(state.account, state.region).delete_security_group(group_id=state.security_group_id)
        except Exception:  # already deleted by hand
            log.debug("cluster security group %s already gone", state.security_group_id)
    _clusters.pop((state.account, state.region, state.name), None)
    eks_nodes.forget(state.account, state.region, state.name)


def _notify_deleted() -> None:
    with _lock:
        gone = list(_gone)
        _gone.clear()
    for account, region, name in gone:
        for hook in list(CLUSTER_DELETED_HOOKS):
            try:
                hook(account, region, name)
            except Exception:
                log.exception("on_cluster_deleted hook %r failed for %s", hook, name)


def _new_update(
    state: _ClusterState,
    type_: str,
    params: list[dict[str, str]],
    kind: str,
    apply: Callable[[], None] | None,
    *,
    nodegroup: str | None = None,
    addon: str | None = None,
) -> _Update:
    now = _clock()
    update = _Update(str(uuid.uuid4()), type_, params, now, now + _delay(kind), nodegroup, addon, apply)
    state.updates[update.id] = update
    return update


def _param(type_: str, value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    return {"type": type_, "value": text}


# --------------------------------------------------------------------------- WSGI plumbing

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


@dataclass
class _Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    access_key: str
    region: str
    account: str
    _json: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        if self._json is None:
            try:
                parsed = json.loads(self.body or b"{}")
            except ValueError:
                raise EksError("BadRequestException", "Request body is not valid JSON") from None
            self._json = parsed if isinstance(parsed, dict) else {}
        return self._json

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def caller(self) -> str:
        return _caller_principal(self.account, self.region, self.access_key)

    def state(self, name: str) -> tuple[_ClusterState, Any]:
        return _state(self.account, self.region, name, self.caller)


@dataclass
class _Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    raw: tuple[str, list[tuple[str, str]], bytes] | None = None  # moto's own response, as is
    endpoint_for: str | None = None  # cluster whose endpoint CLUSTER_ENDPOINT_PROVIDER may replace


def _eks_request(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key as moto reads it, region) if this is a SigV4-signed EKS call."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(authorization)
    if match is None or match.group(3) != "eks":
        return None
    # moto only recognises 20-character keys and calls every other one AKIAEXAMPLE; the account
    # must be the one moto's backends use for this request.
    from moto.core.responses import BaseResponse

    key = BaseResponse.access_key_regex.search(authorization)
    return (key.group(1) if key else "AKIAEXAMPLE"), match.group(2)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length > 0 else b""


def _set_body(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _call(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], list(captured["headers"]), b"".join(chunks)


def _json_of(raw: tuple[str, list[tuple[str, str]], bytes]) -> dict[str, Any] | None:
    """moto's body if its call succeeded."""
    if not raw[0].startswith("2"):
        return None
    try:
        body = json.loads(raw[2] or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _respond(
    start_response: Callable[..., Any],
    status: int,
    body: dict[str, Any],
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}.get(
        status, ""
    )
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response(f"{status} {reason}".strip(), headers + (extra_headers or []))
    return [data]


def _paginate(req: _Request, items: list[Any], limit: int = 100) -> tuple[list[Any], str | None]:
    """EKS's maxResults/nextToken paging over a stable list; tokens are opaque offsets."""
    raw_max = req.q("maxResults")
    try:
        max_results = int(raw_max) if raw_max is not None else limit
    except ValueError:
        raise _invalid("maxResults must be an integer") from None
    if not 1 <= max_results <= limit:
        raise _invalid(f"maxResults must be between 1 and {limit}")
    start = 0
    token = req.q("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise _invalid("The nextToken provided is invalid") from None
    end = start + max_results
    next_token = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


# ------------------------------------------------------------------------------ the layer

_NAME = r"(?P<name>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("POST", r"/clusters", "create_cluster"),
        ("GET", rf"/clusters/{_NAME}", "describe_cluster"),
        ("DELETE", rf"/clusters/{_NAME}", "delete_cluster"),
        ("POST", rf"/clusters/{_NAME}/update-config", "update_cluster_config"),
        ("POST", rf"/clusters/{_NAME}/updates", "update_cluster_version"),
        ("GET", rf"/clusters/{_NAME}/updates", "list_updates"),
        ("GET", rf"/clusters/{_NAME}/updates/(?P<update_id>[^/]+)", "describe_update"),
        ("POST", rf"/clusters/{_NAME}/encryption-config/associate", "associate_encryption_config"),
        ("POST", rf"/clusters/{_NAME}/node-groups", "create_nodegroup"),
        ("DELETE", rf"/clusters/{_NAME}/node-groups/(?P<nodegroup>[^/]+)", "delete_nodegroup"),
        ("POST", rf"/clusters/{_NAME}/node-groups/(?P<nodegroup>[^/]+)/update-config", "update_nodegroup_config"),
        ("POST", rf"/clusters/{_NAME}/node-groups/(?P<nodegroup>[^/]+)/update-version", "update_nodegroup_version"),
        ("POST", rf"/clusters/{_NAME}/fargate-profiles", "create_fargate_profile"),
        ("GET", r"/addons/supported-versions", "describe_addon_versions"),
        ("GET", r"/addons/configuration-schemas", "describe_addon_configuration"),
        ("POST", rf"/clusters/{_NAME}/addons", "create_addon"),
        ("GET", rf"/clusters/{_NAME}/addons", "list_addons"),
        ("GET", rf"/clusters/{_NAME}/addons/(?P<addon>[^/]+)", "describe_addon"),
        ("DELETE", rf"/clusters/{_NAME}/addons/(?P<addon>[^/]+)", "delete_addon"),
        ("POST", rf"/clusters/{_NAME}/addons/(?P<addon>[^/]+)/update", "update_addon"),
        ("GET", r"/access-policies", "list_access_policies"),
        ("POST", rf"/clusters/{_NAME}/access-entries", "create_access_entry"),
        ("GET", rf"/clusters/{_NAME}/access-entries", "list_access_entries"),
        # Principal and policy ARNs arrive URL-encoded; PATH_INFO has them decoded, slashes
        # included, so the principal is everything up to "/access-policies".
        (
            "DELETE",
            rf"/clusters/{_NAME}/access-entries/(?P<principal>.+?)/access-policies/(?P<policy>.+)",
            "disassociate_access_policy",
        ),
        ("POST", rf"/clusters/{_NAME}/access-entries/(?P<principal>.+)/access-policies", "associate_access_policy"),
        (
            "GET",
            rf"/clusters/{_NAME}/access-entries/(?P<principal>.+)/access-policies",
            "list_associated_access_policies",
        ),
        ("GET", rf"/clusters/{_NAME}/access-entries/(?P<principal>.+)", "describe_access_entry"),
        ("POST", rf"/clusters/{_NAME}/access-entries/(?P<principal>.+)", "update_access_entry"),
        ("DELETE", rf"/clusters/{_NAME}/access-entries/(?P<principal>.+)", "delete_access_entry"),
        ("POST", rf"/clusters/{_NAME}/pod-identity-associations", "create_pod_identity_association"),
        ("GET", rf"/clusters/{_NAME}/pod-identity-associations", "list_pod_identity_associations"),
        (
            "GET",
            rf"/clusters/{_NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            "describe_pod_identity_association",
        ),
        (
            "POST",
            rf"/clusters/{_NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            "update_pod_identity_association",
        ),
        (
            "DELETE",
            rf"/clusters/{_NAME}/pod-identity-associations/(?P<association_id>[^/]+)",
            "delete_pod_identity_association",
        ),
        ("GET", r"/tags/(?P<arn>.+)", "list_tags_for_resource"),
        ("POST", r"/tags/(?P<arn>.+)", "tag_resource"),
        ("DELETE", r"/tags/(?P<arn>.+)", "untag_resource"),
    )
]


class EksApi:
    """The WSGI layer: EKS calls it implements are answered here, the rest go to moto."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signed = _eks_request(environ)
        if signed is None:
            return self.app(environ, start_response)
        access_key, region = signed
        body = _read_body(environ)
        _set_body(environ, body)  # moto reads it again if the call is passed on
        path = environ.get("PATH_INFO", "") or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        req = _Request(
            environ,
            environ.get("REQUEST_METHOD", "GET").upper(),
            path,
            parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            body,
            access_key,
            region,
            _account_for(environ, access_key),
        )
        handler, params = self._route(req)
        try:
            with _lock:
                _settle(req.account, req.region)
                reply = handler(req, **params) if handler is not None else None
                _settle(req.account, req.region)  # with latency 0, what the call started is done
        except EksError as error:
            return _respond(start_response, error.status, error.body(), [("x-amzn-ErrorType", error.code)])
        except Exception as exc:  # a sandbox bug: answer as EKS would (ServerException), log it
            log.exception("sandbox EKS extension failed on %s %s", req.method, req.path)
            error = EksError("ServerException", f"sandbox EKS extension error: {exc!r}")
            return _respond(start_response, error.status, error.body(), [("x-amzn-ErrorType", error.code)])
        finally:
            _notify_deleted()
            eks_nodes.flush()
        if reply is None:
            _set_body(environ, body)
            return self.app(environ, start_response)
        if reply.raw is not None:
            status, headers, data = reply.raw
            start_response(status, headers)
            return [data]
        assert reply.body is not None
        if reply.endpoint_for is not None:
            try:
                _apply_endpoint_provider(req, reply.endpoint_for, reply.body)
            except Exception as exc:  # the emulator's failure must be visible, not a fake endpoint
                log.exception("CLUSTER_ENDPOINT_PROVIDER failed")
                error = EksError("ServerException", f"sandbox endpoint provider failed: {exc}")
                return _respond(start_response, 500, error.body(), [("x-amzn-ErrorType", error.code)])
        return _respond(start_response, reply.status, reply.body)

    def _route(self, req: _Request) -> tuple[Callable[..., _Reply | None] | None, dict[str, str]]:
        for method, pattern, name in _ROUTES:
            if method == req.method:
                match = pattern.fullmatch(req.path)
                if match:
                    return getattr(self, name), match.groupdict()
        return None, {}

    # -- calls into moto -------------------------------------------------------------------

    def _moto(
        self, req: _Request, method: str | None = None, path: str | None = None, body: bytes | None = None
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call moto's app with this request's headers (its identity and signature scope)."""
        environ = dict(req.environ)
        environ["REQUEST_METHOD"] = method or req.method
        if path is not None:
            environ["PATH_INFO"] = path
            environ["QUERY_STRING"] = ""
            environ["RAW_URI"] = environ["REQUEST_URI"] = quote(path)
        _set_body(environ, req.body if body is None else body)
        return _call(self.app, environ)

    def _moto_describe(self, req: _Request, path: str, key: str) -> dict[str, Any]:
        raw = self._moto(req, "GET", path, b"")
        body = _json_of(raw)
        if body is None or key not in body:
            raise EksError("ServerException", f"sandbox: cannot read back {path}")
        return body

    # -- clusters --------------------------------------------------------------------------

    def create_cluster(self, req: _Request) -> _Reply:
        body = req.json()
        name = body.get("name") or ""
        backend = _eks_backend(req.account, req.region)
        if name in backend.clusters:
            return _Reply(raw=self._moto(req))  # moto answers ResourceInUseException like EKS
        vpc_id, access_config, upgrade_policy = _validate_create_cluster(req, body)
        if not body.get("version"):
            body["version"] = DEFAULT_VERSION
        raw = self._moto(req, body=json.dumps(body).encode())
        if _json_of(raw) is None:
            return _Reply(raw=raw)
        cluster = backend.clusters[name]
        state = _ClusterState(
            req.account,
            req.region,
            name,
            cluster,
            req.caller(),
            access_config,
            zones=_zones(req, (body.get("resourcesVpcConfig") or {}).get("subnetIds") or []),
        )
        _clusters[(req.account, req.region, name)] = state
        cluster.upgrade_policy = upgrade_policy
        _complete_cluster(state, cluster, body, vpc_id)
        if _delay("cluster_create") > 0:
            cluster.status = "CREATING"
            state.create_ready_at = _clock() + _delay("cluster_create")
        _bootstrap_access(state, cluster)
        described = self._moto_describe(req, f"/clusters/{name}", "cluster")
        described["cluster"]["status"] = "CREATING"  # what CreateCluster always answers
        return _Reply(body=described, endpoint_for=name)

    def describe_cluster(self, req: _Request, name: str) -> _Reply:
        req.state(name)  # EKS's extra fields for clusters moto made on its own
        raw = self._moto(req)
        body = _json_of(raw)
        if body is None:
            return _Reply(raw=raw)
        return _Reply(body=body, endpoint_for=name)

    def delete_cluster(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        if state.delete_ready_at is not None or cluster.status == "DELETING":
            raise EksError("ResourceInUseException", f"Cluster {name} is already being deleted.", cluster=name)
        # EKS refuses while managed node groups or Fargate profiles are attached.
        if cluster.nodegroups:
            raise EksError(
                "ResourceInUseException",
                "Cluster has nodegroups attached",
                cluster=name,
                nodegroup=",".join(sorted(cluster.nodegroups)),
            )
        if cluster.fargate_profiles:
            raise EksError("ResourceInUseException", "Cluster has fargate profiles attached", cluster=name)
        described = self._moto_describe(req, f"/clusters/{name}", "cluster")
        described["cluster"]["status"] = "DELETING"
        # Add-ons, access entries and pod identity associations go with the cluster.
        state.addons.clear()
        state.entries.clear()
        state.associations.clear()
        state.updates.clear()
        cluster.status = "DELETING"
        state.create_ready_at = None
        state.delete_ready_at = _clock() + _delay("cluster_delete")
        return _Reply(body=described)

    def update_cluster_config(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        _require_active(state, cluster)
        kinds = [
            key
            for key in ("resourcesVpcConfig", "logging", "accessConfig", "upgradePolicy")
            if body.get(key) is not None
        ]
        unsupported = [
            key
            for key in (
                "zonalShiftConfig",
                "computeConfig",
                "kubernetesNetworkConfig",
                "storageConfig",
                "remoteNetworkConfig",
                "deletionProtection",
                "controlPlaneScalingConfig",
                "kubeApiServerConfig",
                "kubeSchedulerConfig",
                "kubeControllerManagerConfig",
            )
            if body.get(key) is not None
        ]
        if unsupported:
            raise _invalid(f"The sandbox does not simulate updating {', '.join(unsupported)}", cluster=name)
        vpc_request = body.get("resourcesVpcConfig") or {}
        endpoint_keys = {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}
        network_keys = {"subnetIds", "securityGroupIds"}
        if vpc_request and set(vpc_request) & endpoint_keys and set(vpc_request) & network_keys:
            kinds.append("resourcesVpcConfig")  # endpoint access and VPC changes are two kinds
        if len(kinds) > 1:
            raise _invalid("Only one type of update can be allowed.", cluster=name)
        if not kinds:
            raise _invalid("No changes were specified in the update request.", cluster=name)
        if state.in_progress():
            raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)

        kind = kinds[0]
        if kind == "resourcesVpcConfig" and set(vpc_request) & endpoint_keys:
            update = _endpoint_update(state, cluster, vpc_request)
        elif kind == "resourcesVpcConfig":
            update = _vpc_update(req, state, cluster, vpc_request)
        elif kind == "logging":
            update = _logging_update(state, cluster, body["logging"])
        elif kind == "accessConfig":
            update = _access_config_update(state, cluster, body["accessConfig"])
        else:
            update = _upgrade_policy_update(state, cluster, body["upgradePolicy"])
        return self._started_cluster_update(req, state, cluster, update)

    def _started_cluster_update(self, req: _Request, state: _ClusterState, cluster: Any, update: _Update) -> _Reply:
        if cluster.status == "ACTIVE":
            cluster.status = "UPDATING"
        _settle(req.account, req.region)
        return _Reply(body={"update": update.to_json()})

    def update_cluster_version(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        _require(body, "version")
        _require_active(state, cluster)
        if state.in_progress():
            raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)
        target, current = str(body["version"]), str(cluster.version)
        target_minor, current_minor = _minor(target), _minor(current)
        # Kubernetes, and so EKS, upgrades the control plane one minor version at a time.
        if target_minor is None or current_minor is None or target_minor != (current_minor[0], current_minor[1] + 1):
            raise _invalid(f"Unsupported Kubernetes minor version update from {current} to {target}", cluster=name)
        if target not in SUPPORTED_VERSIONS:
            raise _invalid("unsupported Kubernetes version", cluster=name)
        behind = sorted(n for n, ng in cluster.nodegroups.items() if str(ng.version) != current)
        if behind:
            raise EksError(
                "InvalidRequestException",
                f"Nodegroups {', '.join(behind)} must be updated to match cluster version {current} "
                "before updating cluster version",
                cluster=name,
            )

        def apply() -> None:
            cluster.version = target
            cluster.platformVersion = PLATFORM_VERSIONS.get(target, "eks.1")

        update = _new_update(
            state,
            "VersionUpdate",
            [_param("Version", target), _param("PlatformVersion", PLATFORM_VERSIONS.get(target, "eks.1"))],
            "cluster_version_update",
            apply,
        )
        return self._started_cluster_update(req, state, cluster, update)

    def associate_encryption_config(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        _require(body, "encryptionConfig")
        _require_active(state, cluster)
        if cluster.encryption_config:
            raise _invalid("Encryption is already enabled on the cluster", cluster=name)
        if state.in_progress():
            raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)
        config = _validate_encryption_config(req, body["encryptionConfig"])

        def apply() -> None:
            cluster.encryption_config = config

        update = _new_update(
            state, "AssociateEncryptionConfig", [_param("EncryptionConfig", config)], "cluster_encryption_update", apply
        )
        return self._started_cluster_update(req, state, cluster, update)

    def describe_update(self, req: _Request, name: str, update_id: str) -> _Reply:
        state, cluster = req.state(name)
        nodegroup, addon = req.q("nodegroupName"), req.q("addonName")
        _check_update_scope(state, cluster, nodegroup, addon)
        update = state.updates.get(update_id)
        if update is None or update.nodegroup != nodegroup or update.addon != addon:
            raise EksError(
                "ResourceNotFoundException",
                f"No update found for ID: {update_id}",
                cluster=name,
                nodegroup=nodegroup,
                addon=addon,
            )
        return _Reply(body={"update": update.to_json()})

    def list_updates(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        nodegroup, addon = req.q("nodegroupName"), req.q("addonName")
        _check_update_scope(state, cluster, nodegroup, addon)
        ids = [u.id for u in state.updates.values() if u.nodegroup == nodegroup and u.addon == addon]
        page, token = _paginate(req, ids)
        return _Reply(body={"updateIds": page, "nextToken": token})

    # -- node groups and Fargate profiles --------------------------------------------------

    def create_nodegroup(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        nodegroup_name = body.get("nodegroupName") or ""
        if nodegroup_name in cluster.nodegroups:
            return _Reply(raw=self._moto(req))  # moto answers ResourceInUseException like EKS
        _validate_nodegroup(req, state, cluster, body)
        # EKS's defaults: the cluster's Kubernetes version, its latest AMI release, and AL2023
        # (EKS has no AL2 AMIs for 1.33 and later).
        body.setdefault("version", cluster.version)
        body.setdefault("releaseVersion", NODE_RELEASE_VERSIONS.get(body["version"], f"{body['version']}.0-20251120"))
        if not body.get("amiType") and not (body.get("launchTemplate") or {}).get("imageId"):
            body["amiType"] = "AL2023_x86_64_STANDARD"
        raw = self._moto(req, body=json.dumps(body).encode())
        if _json_of(raw) is None:
            return _Reply(raw=raw)
        nodegroup = cluster.nodegroups[nodegroup_name]
        nodegroup.scaling_config = dict(nodegroup.scaling_config)  # moto shares its default dict
        nodegroup.health = {"issues": []}
        nodegroup.labels = dict(nodegroup.labels or {})
        nodegroup.taints = list(nodegroup.taints or [])
        if not body.get("remoteAccess"):  # moto invents an SSH key; EKS has none unless asked
            nodegroup.remote_access = None
            nodegroup.resources.pop("remoteAccessSecurityGroup", None)
        if body.get("launchTemplate"):
            nodegroup.disk_size = None
        if _delay("nodegroup_create") > 0:
            nodegroup.status = "CREATING"
            state.nodegroup_timers[nodegroup_name] = ("CREATING", _clock() + _delay("nodegroup_create"))
        entry_type = "EC2_WINDOWS" if "WINDOWS" in str(nodegroup.ami_type) else "EC2_LINUX"
        _ensure_node_entry(state, cluster, nodegroup.node_role, entry_type)
        described = self._moto_describe(req, f"/clusters/{name}/node-groups/{nodegroup_name}", "nodegroup")
        described["nodegroup"]["status"] = "CREATING"
        return _Reply(body=described)

    def delete_nodegroup(self, req: _Request, name: str, nodegroup: str) -> _Reply:
        state, cluster = req.state(name)
        group = cluster.nodegroups.get(nodegroup)
        if group is None:
            raise _nodegroup_not_found(name, nodegroup)
        if group.status == "DELETING":
            raise EksError(
                "ResourceInUseException",
                f"Nodegroup {nodegroup} is already being deleted.",
                cluster=name,
                nodegroup=nodegroup,
            )
        described = self._moto_describe(req, f"/clusters/{name}/node-groups/{nodegroup}", "nodegroup")
        described["nodegroup"]["status"] = "DELETING"
        group.status = "DELETING"
        state.nodegroup_timers[nodegroup] = ("DELETING", _clock() + _delay("nodegroup_delete"))
        _settle(req.account, req.region)
        return _Reply(body=described)

    def update_nodegroup_config(self, req: _Request, name: str, nodegroup: str) -> _Reply:
        state, cluster = req.state(name)
        group = _active_nodegroup(state, cluster, nodegroup)
        body = req.json()
        params: list[dict[str, str]] = []
        labels = body.get("labels") or {}
        taints = body.get("taints") or {}
        scaling = body.get("scalingConfig") or {}
        update_config = body.get("updateConfig")
        repair = body.get("nodeRepairConfig")
        if labels.get("addOrUpdateLabels"):
            params.append(_param("LabelsToAdd", labels["addOrUpdateLabels"]))
        if labels.get("removeLabels"):
            params.append(_param("LabelsToRemove", labels["removeLabels"]))
        if taints.get("addOrUpdateTaints"):
            params.append(_param("TaintsToAdd", taints["addOrUpdateTaints"]))
        if taints.get("removeTaints"):
            params.append(_param("TaintsToRemove", taints["removeTaints"]))
        for key, param in (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize")):
            if key in scaling:
                params.append(_param(param, str(scaling[key])))
        if update_config:
            for key, param in (
                ("maxUnavailable", "MaxUnavailable"),
                ("maxUnavailablePercentage", "MaxUnavailablePercentage"),
                ("updateStrategy", "UpdateStrategy"),
            ):
                if key in update_config:
                    params.append(_param(param, str(update_config[key])))
        if repair and "enabled" in repair:
            params.append(_param("NodeRepairEnabled", bool(repair["enabled"])))
        if not params:
            raise _invalid("No changes were specified in the update request.", cluster=name, nodegroup=nodegroup)
        merged = {**group.scaling_config, **scaling}
        _validate_scaling(merged, name, nodegroup)

        def apply() -> None:
            group.scaling_config = merged
            new_labels = dict(group.labels or {})
            new_labels.update(labels.get("addOrUpdateLabels") or {})
            for key in labels.get("removeLabels") or []:
                new_labels.pop(key, None)
            group.labels = new_labels
            new_taints = [
                t
                for t in group.taints or []
                if not any(
                    t.get("key") == r.get("key") and t.get("effect") == r.get("effect")
                    for r in (taints.get("removeTaints") or []) + (taints.get("addOrUpdateTaints") or [])
                )
            ]
            group.taints = new_taints + list(taints.get("addOrUpdateTaints") or [])
            if update_config:
                group.update_config = update_config
            if repair:
                group.node_repair_config = repair
            group.modified_at = _utcnow()

        update = _new_update(state, "ConfigUpdate", params, "nodegroup_update", apply, nodegroup=nodegroup)
        group.status = "UPDATING"
        _settle(req.account, req.region)
        return _Reply(body={"update": update.to_json()})

    def update_nodegroup_version(self, req: _Request, name: str, nodegroup: str) -> _Reply:
        state, cluster = req.state(name)
        group = _active_nodegroup(state, cluster, nodegroup)
        body = req.json()
        target = str(body.get("version") or cluster.version)
        target_minor, cluster_minor, current_minor = (
            _minor(target),
            _minor(str(cluster.version)),
            _minor(str(group.version)),
        )
        if target_minor is None or (cluster_minor and target_minor > cluster_minor):
            raise _invalid(
                f"Requested Nodegroup Kubernetes version {target} must not be later than the cluster "
                f"version {cluster.version}",
                cluster=name,
                nodegroup=nodegroup,
            )
        if current_minor and target_minor < current_minor:
            raise _invalid(
                f"Nodegroup Kubernetes version cannot be downgraded from {group.version} to {target}",
                cluster=name,
                nodegroup=nodegroup,
            )
        release = str(body.get("releaseVersion") or NODE_RELEASE_VERSIONS.get(target, f"{target}.0-20251120"))
        if not release.startswith(f"{target}."):
            raise _invalid(
                f"Release version {release} is not valid for Kubernetes version {target}",
                cluster=name,
                nodegroup=nodegroup,
            )
        launch_template = body.get("launchTemplate")
        params = [_param("Version", target), _param("ReleaseVersion", release)]
        if launch_template:
            for key, param in (("name", "LaunchTemplateName"), ("version", "LaunchTemplateVersion")):
                if launch_template.get(key):
                    params.append(_param(param, launch_template[key]))

        def apply() -> None:
            group.version = target
            group.release_version = release
            if launch_template:
                group.launch_template = {**(group.launch_template or {}), **launch_template}
            group.modified_at = _utcnow()

        update = _new_update(state, "VersionUpdate", params, "nodegroup_update", apply, nodegroup=nodegroup)
        group.status = "UPDATING"
        _settle(req.account, req.region)
        return _Reply(body={"update": update.to_json()})

    def create_fargate_profile(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        raw = self._moto(req)
        if _json_of(raw) is not None:
            role = req.json().get("podExecutionRoleArn")
            if role:
                _ensure_node_entry(state, cluster, role, "FARGATE_LINUX")
        return _Reply(raw=raw)

    # -- add-ons ---------------------------------------------------------------------------

    def describe_addon_versions(self, req: _Request) -> _Reply:
        kubernetes_version = req.q("kubernetesVersion")
        addon_name = req.q("addonName")
        types = set(req.query.get("types", []))
        publishers = set(req.query.get("publishers", []))
        owners = set(req.query.get("owners", []))
        addons = []
        for spec in sorted(ADDON_CATALOG.values(), key=lambda s: s.name):
            if addon_name and spec.name != addon_name:
                continue
            if (
                (types and spec.type not in types)
                or (publishers and "eks" not in publishers)
                or (owners and "aws" not in owners)
            ):
                continue
            versions = []
            for version in spec.versions:
                # With kubernetesVersion, EKS lists only that version's compatibility.
                cluster_versions = [v for v in version.cluster_versions if kubernetes_version in (None, v)]
                if not cluster_versions:
                    continue
                versions.append(
                    {
                        "addonVersion": version.version,
                        "architecture": ["amd64", "arm64"],
                        "computeTypes": list(spec.compute_types),
                        "compatibilities": [
                            {"clusterVersion": v, "platformVersions": ["*"], "defaultVersion": v in version.default_for}
                            for v in cluster_versions
                        ],
                        "requiresConfiguration": False,
                        "requiresIamPermissions": spec.requires_iam,
                    }
                )
            if versions:
                addons.append(
                    {
                        "addonName": spec.name,
                        "type": spec.type,
                        "addonVersions": versions,
                        "publisher": "eks",
                        "owner": "aws",
                        "defaultNamespace": spec.namespace,
                    }
                )
        page, token = _paginate(req, addons)
        return _Reply(body={"addons": page, "nextToken": token})

    def describe_addon_configuration(self, req: _Request) -> _Reply:
        addon_name, version = req.q("addonName") or "", req.q("addonVersion") or ""
        spec = ADDON_CATALOG.get(addon_name)
        if spec is None or not any(v.version == version for v in spec.versions):
            raise EksError(
                "ResourceNotFoundException", f"Addon {addon_name} with version {version} not found", addon=addon_name
            )
        schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": True}
        return _Reply(
            body={
                "addonName": addon_name,
                "addonVersion": version,
                "configurationSchema": json.dumps(schema),
                "podIdentityConfiguration": [
                    {"serviceAccount": sa, "recommendedManagedPolicies": [policy]}
                    for sa, policy in spec.pod_identity.items()
                ],
            }
        )

    def create_addon(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        _require(body, "addonName")
        addon_name = str(body["addonName"])
        if cluster.status in ("CREATING", "DELETING") or state.delete_ready_at is not None:
            raise EksError(
                "InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name, addon=addon_name
            )
        spec = ADDON_CATALOG.get(addon_name)
        if spec is None:
            raise _invalid("Addon specified is not supported", cluster=name, addon=addon_name)
        token, fingerprint = body.get("clientRequestToken"), _fingerprint(body)
        made = _replay(state, token, "CreateAddon", fingerprint, lambda n: n in state.addons)
        if made is not None:
            return _Reply(body={"addon": state.addons[made].to_json(state)})
        if addon_name in state.addons:
            raise EksError("ResourceInUseException", "Addon already exists.", cluster=name, addon=addon_name)
        version = body.get("addonVersion") or default_addon_version(addon_name, str(cluster.version))
        _check_addon_version(spec, version, str(cluster.version), name)
        _validate_addon_options(body, name, addon_name)
        now = _clock()
        arn = f"arn:{state.partition}:eks:{req.region}:{req.account}:addon/{name}/{addon_name}/{uuid.uuid4()}"
        pod_identities = _addon_pod_identities(state, spec, body.get("podIdentityAssociations"), name)
        addon = _Addon(
            addon_name,
            name,
            str(version),
            arn,
            now,
            now,
            "CREATING",
            now + _delay(f"addon:{addon_name}"),
            service_account_role_arn=body.get("serviceAccountRoleArn") or None,
            configuration_values=body.get("configurationValues"),
            tags=dict(body.get("tags") or {}),
            namespace=(body.get("namespaceConfig") or {}).get("namespace"),
        )
        addon.pod_identity_ids = _create_owned_associations(req, state, addon, spec, pod_identities)
        state.addons[addon_name] = addon
        if token:
            state.tokens[str(token)] = ("CreateAddon", fingerprint, addon_name)
        return _Reply(body={"addon": addon.to_json(state)})

    def describe_addon(self, req: _Request, name: str, addon: str) -> _Reply:
        state, _ = req.state(name)
        record = state.addons.get(addon)
        if record is None:
            raise _addon_not_found(name, addon)
        return _Reply(body={"addon": record.to_json(state)})

    def list_addons(self, req: _Request, name: str) -> _Reply:
        state, _ = req.state(name)
        page, token = _paginate(req, sorted(state.addons))
        return _Reply(body={"addons": page, "nextToken": token})

    def update_addon(self, req: _Request, name: str, addon: str) -> _Reply:
        state, cluster = req.state(name)
        record = state.addons.get(addon)
        if record is None:
            raise _addon_not_found(name, addon)
        if record.status in ("CREATING", "UPDATING", "DELETING"):
            raise EksError(
                "ResourceInUseException",
                f"Addon {addon} is in {record.status} state and cannot be updated",
                cluster=name,
                addon=addon,
            )
        body = req.json()
        spec = ADDON_CATALOG[addon]
        params: list[dict[str, str]] = []
        version = body.get("addonVersion")
        if version:
            _check_addon_version(spec, version, str(cluster.version), name)
            if _version_key(version) < _version_key(record.version):
                raise _invalid(
                    f"Updating addon {addon} from {record.version} to the lower version {version} is not supported",
                    cluster=name,
                    addon=addon,
                )
            params.append(_param("AddonVersion", version))
        _validate_addon_options(body, name, addon)
        if "serviceAccountRoleArn" in body:
            params.append(_param("ServiceAccountRoleArn", body["serviceAccountRoleArn"] or ""))
        if body.get("resolveConflicts"):
            params.append(_param("ResolveConflicts", body["resolveConflicts"]))
        if "configurationValues" in body:
            params.append(_param("ConfigurationValues", body["configurationValues"] or ""))
        wanted_identities = None
        if body.get("podIdentityAssociations") is not None:
            wanted_identities = _addon_pod_identities(
                state, spec, body["podIdentityAssociations"], name, owner=record.arn
            )
            params.append(_param("PodIdentityAssociations", [p["serviceAccount"] for p in wanted_identities]))

        def apply() -> None:
            if version:
                record.version = version
            if "serviceAccountRoleArn" in body:
                record.service_account_role_arn = body["serviceAccountRoleArn"] or None
            if "configurationValues" in body:
                record.configuration_values = body["configurationValues"] or None
            if wanted_identities is not None:
                for association_id in record.pod_identity_ids:
                    state.associations.pop(association_id, None)
                record.pod_identity_ids = _create_owned_associations(req, state, record, spec, wanted_identities)
            record.modified_at = _clock()

        update = _new_update(state, "AddonUpdate", params, "addon_update", apply, addon=addon)
        record.status, record.ready_at = "UPDATING", update.ready_at
        _settle(req.account, req.region)
        return _Reply(body={"update": update.to_json()})

    def delete_addon(self, req: _Request, name: str, addon: str) -> _Reply:
        state, _ = req.state(name)
        record = state.addons.get(addon)
        if record is None:
            raise _addon_not_found(name, addon)
        # `preserve` keeps the add-on's Kubernetes objects; nothing runs here, so it changes nothing.
        if record.status != "DELETING":
            record.status, record.ready_at = "DELETING", _clock() + _delay("addon_delete")
            record.modified_at = _clock()
        reply = {"addon": record.to_json(state)}
        return _Reply(body=reply)

    # -- access entries --------------------------------------------------------------------

    def _access_state(self, req: _Request, name: str) -> tuple[_ClusterState, Any]:
        state, cluster = req.state(name)
        if state.access_config.get("authenticationMode") == "CONFIG_MAP":
            raise EksError(
                "InvalidRequestException",
                "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
                cluster=name,
            )
        _bootstrap_access(state, cluster)
        return state, cluster

    def list_access_policies(self, req: _Request) -> _Reply:
        partition = _partition(req.region)
        policies = [{"name": n, "arn": _access_policy_arn(partition, n)} for n in ACCESS_POLICY_NAMES]
        page, token = _paginate(req, policies)
        return _Reply(body={"accessPolicies": page, "nextToken": token})

    def create_access_entry(self, req: _Request, name: str) -> _Reply:
        state, _cluster = self._access_state(req, name)
        body = req.json()
        _require(body, "principalArn")
        token, fingerprint = body.get("clientRequestToken"), _fingerprint(body)
        made = _replay(state, token, "CreateAccessEntry", fingerprint, lambda principal: principal in state.entries)
        if made is not None:
            return _Reply(body={"accessEntry": state.entries[made].to_json()})
        principal = str(body["principalArn"])
        role = _find_role(state.account, state.region, principal) if ":role/" in principal else None
        if role is not None and not _propagated(role):
            # What EKS answers until IAM has propagated a new role (it looks like a wrong ARN).
            raise _invalid("The specified principalArn is invalid: invalid principal.", cluster=name)
        entry = _new_access_entry(
            state,
            principal,
            str(body.get("type") or "STANDARD"),
            body.get("username"),
            body.get("kubernetesGroups"),
            body.get("tags"),
        )
        if token:
            state.tokens[str(token)] = ("CreateAccessEntry", fingerprint, principal)
        return _Reply(body={"accessEntry": entry.to_json()})

    def describe_access_entry(self, req: _Request, name: str, principal: str) -> _Reply:
        state, _ = self._access_state(req, name)
        return _Reply(body={"accessEntry": _entry(state, principal).to_json()})

    def list_access_entries(self, req: _Request, name: str) -> _Reply:
        state, _ = self._access_state(req, name)
        policy = req.q("associatedPolicyArn")
        arns = sorted(arn for arn, entry in state.entries.items() if policy is None or policy in entry.policies)
        page, token = _paginate(req, arns)
        return _Reply(body={"accessEntries": page, "nextToken": token})

    def update_access_entry(self, req: _Request, name: str, principal: str) -> _Reply:
        state, _ = self._access_state(req, name)
        entry = _entry(state, principal)
        body = req.json()
        if entry.type != "STANDARD":
            raise _invalid(
                'This operation can only be performed on Access Entries with a type of "STANDARD".', cluster=name
            )
        if body.get("username") is not None:
            _check_username(str(body["username"]), name)
            entry.username = str(body["username"])
        if body.get("kubernetesGroups") is not None:
            entry.kubernetes_groups = _check_groups(body["kubernetesGroups"], name)
        entry.modified_at = _clock()
        return _Reply(body={"accessEntry": entry.to_json()})

    def delete_access_entry(self, req: _Request, name: str, principal: str) -> _Reply:
        state, _ = self._access_state(req, name)
        _entry(state, principal)
        del state.entries[principal]  # its policy associations go with it
        return _Reply(body={})

    def associate_access_policy(self, req: _Request, name: str, principal: str) -> _Reply:
        state, _ = self._access_state(req, name)
        entry = _entry(state, principal)
        body = req.json()
        _require(body, "policyArn", "accessScope")
        if entry.type != "STANDARD":
            raise _invalid(
                'This operation can only be performed on Access Entries with a type of "STANDARD".', cluster=name
            )
        policy_arn = str(body["policyArn"])
        if policy_arn not in {_access_policy_arn(state.partition, n) for n in ACCESS_POLICY_NAMES}:
            raise _invalid(f"The specified policyArn is invalid: {policy_arn}", cluster=name)
        scope = _check_scope(body["accessScope"], name)
        now = _clock()
        existing = entry.policies.get(policy_arn)
        if existing is not None:  # associating again replaces the scope
            existing.scope, existing.modified_at = scope, now
        else:
            existing = entry.policies[policy_arn] = _AccessPolicyAssociation(policy_arn, scope, now, now)
        return _Reply(
            body={"clusterName": name, "principalArn": principal, "associatedAccessPolicy": existing.to_json()}
        )

    def list_associated_access_policies(self, req: _Request, name: str, principal: str) -> _Reply:
        state, _ = self._access_state(req, name)
        entry = _entry(state, principal)
        page, token = _paginate(req, [p.to_json() for p in sorted(entry.policies.values(), key=lambda p: p.policy_arn)])
        return _Reply(
            body={"clusterName": name, "principalArn": principal, "associatedAccessPolicies": page, "nextToken": token}
        )

    def disassociate_access_policy(self, req: _Request, name: str, principal: str, policy: str) -> _Reply:
        state, _ = self._access_state(req, name)
        entry = _entry(state, principal)
        if entry.policies.pop(policy, None) is None:
            raise EksError(
                "ResourceNotFoundException",
                f"The specified policy {policy} is not associated with the access entry.",
                cluster=name,
            )
        entry.modified_at = _clock()
        return _Reply(body={})

    # -- pod identity associations ---------------------------------------------------------

    def create_pod_identity_association(self, req: _Request, name: str) -> _Reply:
        state, cluster = req.state(name)
        body = req.json()
        _require(body, "namespace", "serviceAccount", "roleArn")
        if cluster.status in ("CREATING", "DELETING"):
            raise EksError("InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name)
        token, fingerprint = body.get("clientRequestToken"), _fingerprint(body)
        made = _replay(state, token, "CreatePodIdentityAssociation", fingerprint, lambda i: i in state.associations)
        if made is not None:
            return _Reply(body={"association": state.associations[made].to_json()})
        role_arn = str(body["roleArn"])
        _check_role_arn(role_arn, name)
        if _arn_account(role_arn) == state.account:
            role = _find_role(state.account, state.region, role_arn)
            if role is None or not _propagated(role):
                # EKS's answer for a role IAM does not have, or has not propagated yet.
                raise _invalid(f"Role provided in the request does not exist: {role_arn}", cluster=name)
        association = _new_association(
            req, state, str(body["namespace"]), str(body["serviceAccount"]), role_arn, body.get("tags"), None, body
        )
        if token:
            state.tokens[str(token)] = ("CreatePodIdentityAssociation", fingerprint, association.id)
        return _Reply(body={"association": association.to_json()})

    def describe_pod_identity_association(self, req: _Request, name: str, association_id: str) -> _Reply:
        state, _ = req.state(name)
        return _Reply(body={"association": _association(state, association_id).to_json()})

    def list_pod_identity_associations(self, req: _Request, name: str) -> _Reply:
        state, _ = req.state(name)
        namespace, service_account = req.q("namespace"), req.q("serviceAccount")
        found = [
            a.summary()
            for a in sorted(state.associations.values(), key=lambda a: (a.created_at, a.id))
            if (namespace is None or a.namespace == namespace)
            and (service_account is None or a.service_account == service_account)
        ]
        page, token = _paginate(req, found)
        return _Reply(body={"associations": page, "nextToken": token})

    def update_pod_identity_association(self, req: _Request, name: str, association_id: str) -> _Reply:
        state, _ = req.state(name)
        association = _association(state, association_id)
        body = req.json()
        if body.get("roleArn"):
            _check_role_arn(str(body["roleArn"]), name)
            association.role_arn = str(body["roleArn"])
        if "targetRoleArn" in body:
            if body["targetRoleArn"]:
                _check_role_arn(str(body["targetRoleArn"]), name)
            association.target_role_arn = body["targetRoleArn"] or None
            association.external_id = str(uuid.uuid4()) if association.target_role_arn else None
        if body.get("disableSessionTags") is not None:
            association.disable_session_tags = bool(body["disableSessionTags"])
        if "policy" in body:
            association.policy = body["policy"] or None
        association.modified_at = _clock()
        return _Reply(body={"association": association.to_json()})

    def delete_pod_identity_association(self, req: _Request, name: str, association_id: str) -> _Reply:
        state, _ = req.state(name)
        association = _association(state, association_id)
        del state.associations[association_id]
        for addon in state.addons.values():
            if association_id in addon.pod_identity_ids:
                addon.pod_identity_ids.remove(association_id)
        return _Reply(body={"association": association.to_json()})

    # -- tags ------------------------------------------------------------------------------

    def list_tags_for_resource(self, req: _Request, arn: str) -> _Reply:
        return _Reply(body={"tags": dict(_taggable(req, arn))})

    def tag_resource(self, req: _Request, arn: str) -> _Reply:
        tags = _taggable(req, arn)
        new = req.json().get("tags") or {}
        if not isinstance(new, dict) or not new:
            raise EksError("BadRequestException", "tags must be a non-empty map")
        if any(str(key).lower().startswith("aws:") for key in new):
            raise EksError("BadRequestException", "Tag keys starting with 'aws:' are reserved for AWS use")
        tags.update({str(k): str(v) for k, v in new.items()})
        return _Reply(body={})

    def untag_resource(self, req: _Request, arn: str) -> _Reply:
        tags = _taggable(req, arn)
        keys = req.query.get("tagKeys", [])
        if not keys:
            raise EksError("BadRequestException", "tagKeys is required")
        for key in keys:
            tags.pop(key, None)
        return _Reply(body={})


def wrap(app: WSGIApp) -> WSGIApp:
    """The sandbox extension entry point (see server.EXTENSIONS)."""
    return EksApi(app)


# ------------------------------------------------------------------------------ behaviours


def _utcnow() -> datetime:
    """For moto's node group timestamps, which are datetimes."""
    return datetime.now(UTC)


def _apply_endpoint_provider(req: _Request, name: str, body: dict[str, Any]) -> None:
    provider = CLUSTER_ENDPOINT_PROVIDER
    cluster = body.get("cluster")
    if provider is None or not isinstance(cluster, dict):
        return
    found = provider(req.account, req.region, name)
    if found:
        endpoint, ca_data = found
        cluster["endpoint"] = endpoint
        cluster["certificateAuthority"] = {**(cluster.get("certificateAuthority") or {}), "data": ca_data}


def _require_active(state: _ClusterState, cluster: Any) -> None:
    if cluster.status in ("CREATING", "DELETING", "FAILED") or state.delete_ready_at is not None:
        raise EksError(
            "ResourceInUseException",
            f"Cluster {state.name} is in {cluster.status} state and cannot be updated.",
            cluster=state.name,
        )


def _active_nodegroup(state: _ClusterState, cluster: Any, nodegroup: str) -> Any:
    group = cluster.nodegroups.get(nodegroup)
    if group is None:
        raise _nodegroup_not_found(state.name, nodegroup)
    if group.status != "ACTIVE" or state.in_progress(nodegroup=nodegroup):
        raise EksError(
            "ResourceInUseException",
            f"Nodegroup {nodegroup} is in {group.status} state and cannot be updated.",
            cluster=state.name,
            nodegroup=nodegroup,
        )
    return group


def _check_update_scope(state: _ClusterState, cluster: Any, nodegroup: str | None, addon: str | None) -> None:
    if nodegroup is not None and nodegroup not in cluster.nodegroups:
        raise _nodegroup_not_found(state.name, nodegroup)
    if addon is not None and addon not in state.addons:
        raise _addon_not_found(state.name, addon)


# -- cluster creation


def _validate_create_cluster(req: _Request, body: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """EKS's checks on CreateCluster before anything exists. Returns (VPC id, access config,
    upgrade policy)."""
    _require(body, "name", "roleArn", "resourcesVpcConfig")
    name = str(body["name"])
    if not re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}", name):
        raise _invalid(
            "The cluster name must start with an alphanumeric character and contain only "
            "alphanumeric characters, hyphens and underscores (100 at most).",
            cluster=name,
        )
    version = body.get("version")
    if version and version not in SUPPORTED_VERSIONS:
        raise _invalid("unsupported Kubernetes version", cluster=name)

    role_arn = str(body["roleArn"])
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/.+", role_arn)
    if match is None:
        raise _invalid(f"Invalid Role Arn: '{role_arn}'", cluster=name)
    if match.group(1) == req.account:
        role = _find_role(req.account, req.region, role_arn)
        if role is None or not _trusts(role, "eks.amazonaws.com"):
            raise _invalid(
                f"Role with arn: {role_arn}, could not be assumed because it does not exist or the "
                "trusted entity is not correct",
                cluster=name,
            )

    vpc_config = body.get("resourcesVpcConfig") or {}
    vpc_id = _check_subnets(req, vpc_config.get("subnetIds") or [], name, two_azs=True)
    _check_security_groups(req, vpc_config.get("securityGroupIds") or [], vpc_id, name)
    if vpc_config.get("endpointPublicAccess") is False and vpc_config.get("endpointPrivateAccess") is False:
        raise _invalid("Cluster must have at least one of private or public endpoint access enabled", cluster=name)
    if vpc_config.get("publicAccessCidrs") is not None:
        _check_public_cidrs(vpc_config["publicAccessCidrs"], name)

    access = body.get("accessConfig") or {}
    mode = access.get("authenticationMode") or "API_AND_CONFIG_MAP"
    if mode not in AUTH_MODES:
        raise _invalid(f"Unsupported authentication mode: {mode}", cluster=name)
    bootstrap = access.get("bootstrapClusterCreatorAdminPermissions")
    bootstrap = True if bootstrap is None else bool(bootstrap)
    if mode == "CONFIG_MAP" and not bootstrap:
        # With only the ConfigMap, nobody could reach the cluster to edit it.
        raise _invalid(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP",
            cluster=name,
        )
    support = (body.get("upgradePolicy") or {}).get("supportType") or "EXTENDED"
    if support not in ("STANDARD", "EXTENDED"):
        raise _invalid(f"Unsupported supportType: {support}", cluster=name)
    if body.get("encryptionConfig"):
        _validate_encryption_config(req, body["encryptionConfig"])
    if body.get("logging"):
        _merge_logging(body["logging"], [], name)
    return (
        vpc_id,
        {"bootstrapClusterCreatorAdminPermissions": bootstrap, "authenticationMode": mode},
        {"supportType": support},
    )


def _check_subnets(req: _Request, subnet_ids: list[str], cluster: str, two_azs: bool) -> str | None:
    ec2 = _ec2_backend(req.account, req.region)
    subnets = []
    for subnet_id in subnet_ids:
        try:
            subnets.append(ec2.get_subnet(subnet_id))
        except Exception:
            raise _invalid(f"The subnet ID '{subnet_id}' does not exist", cluster=cluster) from None
    if two_azs and len({s.availability_zone for s in subnets}) < 2:
        raise _invalid("Subnets specified must be in at least two different AZs", cluster=cluster)
    vpcs = {s.vpc_id for s in subnets}
    if len(vpcs) > 1:
        raise _invalid("Subnets specified must all be in the same VPC", cluster=cluster)
    return next(iter(vpcs), None)


def _zones(req: _Request, subnet_ids: list[str]) -> frozenset[str]:
    ec2 = _ec2_backend(req.account, req.region)
    zones = set()
    for subnet_id in subnet_ids:
        try:
            zones.add(ec2.get_subnet(subnet_id).availability_zone)
        except Exception:
            continue
    return frozenset(zones)


def _check_security_groups(req: _Request, group_ids: list[str], vpc_id: str | None, cluster: str) -> None:
    ec2 = _ec2_backend(req.account, req.region)
    for group_id in group_ids:
        group = ec2.get_security_group_from_id(group_id)
        if group is None:
            raise _invalid(f"The security group '{group_id}' does not exist", cluster=cluster)
        if vpc_id and group.vpc_id != vpc_id:
            raise _invalid(f"Security group {group_id} is not in the VPC of the subnets ({vpc_id})", cluster=cluster)


_PRIVATE_NETS = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16")
]


def _check_public_cidrs(cidrs: list[str], cluster: str) -> None:
    """publicAccessCidrs must be canonical public IPv4 blocks."""
    bad = []
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            bad.append(cidr)
            continue
        if any(network.overlaps(private) for private in _PRIVATE_NETS) and network.prefixlen > 0:
            bad.append(cidr)
    if bad:
        raise _invalid(f"The following CIDRs are invalid in publicAccessCidrs: [{', '.join(bad)}]", cluster=cluster)


def _validate_encryption_config(req: _Request, config: Any) -> list[dict[str, Any]]:
    if not isinstance(config, list) or len(config) != 1:
        raise _invalid("Exactly one encryptionConfig is supported")
    item = config[0] or {}
    if item.get("resources") != ["secrets"]:
        raise _invalid("Only 'secrets' may be encrypted: encryptionConfig.resources must be [\"secrets\"]")
    key_arn = (item.get("provider") or {}).get("keyArn")
    if not key_arn:
        raise _invalid("encryptionConfig.provider.keyArn is required")
    match = re.fullmatch(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)/.+", str(key_arn))
    if match is None:
        raise _invalid(f"Key ARN {key_arn} is not a valid KMS key ARN")
    if match.group(1) != req.region:
        raise _invalid(f"Key {key_arn} must be in the cluster's region {req.region}")
    if match.group(2) == req.account:
        from moto.kms.models import kms_backends

        try:
            key = kms_backends[req.account][req.region].describe_key(str(key_arn))
        except Exception:
            raise _invalid(f"Key {key_arn} not found") from None
        if (
            getattr(key, "key_spec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
            or getattr(key, "key_state", "Enabled") != "Enabled"
        ):
            raise _invalid(f"Key {key_arn} must be an enabled symmetric key")
    return [{"resources": ["secrets"], "provider": {"keyArn": str(key_arn)}}]


def _complete_cluster(state: _ClusterState, cluster: Any, body: dict[str, Any], vpc_id: str | None) -> None:
    """Give moto's new cluster what EKS reports for one: endpoint defaults, the VPC, its own
    security group, endpoint, OIDC issuer, service CIDR, platform version, logging groups."""
    requested = body.get("resourcesVpcConfig") or {}
    vpc = {
        "subnetIds": list(requested.get("subnetIds") or []),
        "securityGroupIds": list(requested.get("securityGroupIds") or []),
        "endpointPublicAccess": requested.get("endpointPublicAccess", True) is not False,
        "endpointPrivateAccess": bool(requested.get("endpointPrivateAccess", False)),
        "publicAccessCidrs": list(requested.get("publicAccessCidrs") or ["0.0.0.0/0"]),
    }
    if vpc_id:
        vpc["vpcId"] = vpc_id
        group_id = _create_cluster_security_group(state, vpc_id)
        if group_id:
            vpc["clusterSecurityGroupId"] = group_id
    cluster.resources_vpc_config = vpc
    token = uuid.uuid4().hex.upper()
    cluster.endpoint = f"https://{token}.gr7.{state.region}.eks.amazonaws.com"
    cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{state.region}.amazonaws.com/id/{token}"}}
    network = dict(body.get("kubernetesNetworkConfig") or {})
    network.setdefault("ipFamily", "ipv4")
    if not network.get("serviceIpv4Cidr"):
        # EKS picks 10.100.0.0/16, or 172.20.0.0/16 when the VPC itself is in 10.0.0.0/8.
        network["serviceIpv4Cidr"] = "172.20.0.0/16" if _vpc_in_ten(state, vpc_id) else "10.100.0.0/16"
    cluster.kubernetes_network_config = network
    cluster.platformVersion = PLATFORM_VERSIONS.get(str(cluster.version), "eks.1")
    cluster.logging = {"clusterLogging": _merge_logging((body.get("logging") or {}), [], state.name)}
    cluster.encryption_config = _encryption_config(body.get("encryptionConfig"))
    _sync_cluster_object(state)


def _encryption_config(config: Any) -> list[dict[str, Any]]:
    """The encryptionConfig EKS reports for an (already validated) CreateCluster request."""
    if not config:
        return []
    item = config[0]
    return [{"resources": ["secrets"], "provider": {"keyArn": item["provider"]["keyArn"]}}]


def _vpc_in_ten(state: _ClusterState, vpc_id: str | None) -> bool:
    if not vpc_id:
        return False
    try:
        vpc = _ec2_backend(state.account, state.region).get_vpc(vpc_id)
        return ipaddress.ip_network(vpc.cidr_block).subnet_of(ipaddress.ip_network("10.0.0.0/8"))
    except Exception:
        return False


def _create_cluster_security_group(state: _ClusterState, vpc_id: str) -> str | None:
    """The security group EKS makes for the control plane ENIs and managed nodes: tagged with the
    cluster, allowing all traffic from itself, deleted with the cluster."""
    ec2 = _ec2_backend(state.account, state.region)
    group_name = f"eks-cluster-sg-{state.name}-{random.randint(10**9, 10**10 - 1)}"
    try:
        group = ec2.create_security_group(
            name=group_name,
            description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, "
            "as well as any managed workloads.",
            vpc_id=vpc_id,
            tags={
                "Name": group_name,
                f"kubernetes.io/cluster/{state.name}": "owned",
                "aws:eks:cluster-name": state.name,
            },
        )
        ec2.authorize_security_group_ingress(
            group.id, "-1", None, None, [], source_groups=[{"GroupId": group.id}], vpc_id=vpc_id
        )
    except Exception:
        log.exception("sandbox: cannot create the cluster security group for %s", state.name)
        return None
    state.security_group_id = group.id
    return str(group.id)


def _merge_logging(request: dict[str, Any], current: list[dict[str, Any]], cluster: str) -> list[dict[str, Any]]:
    """EKS's logging groups after applying `request` to `current`: one enabled group, one
    disabled group, each listing its types in EKS's order."""
    enabled = {t for group in current if group.get("enabled") for t in group.get("types", [])}
    for group in request.get("clusterLogging") or []:
        for log_type in group.get("types") or []:
            if log_type not in LOG_TYPES:
                raise _invalid(f"Unknown log type {log_type}; valid types are {', '.join(LOG_TYPES)}", cluster=cluster)
            if group.get("enabled"):
                enabled.add(log_type)
            else:
                enabled.discard(log_type)
    groups = []
    if enabled:
        groups.append({"types": [t for t in LOG_TYPES if t in enabled], "enabled": True})
    if len(enabled) < len(LOG_TYPES):
        groups.append({"types": [t for t in LOG_TYPES if t not in enabled], "enabled": False})
    return groups


# -- cluster updates


def _endpoint_update(state: _ClusterState, cluster: Any, request: dict[str, Any]) -> _Update:
    vpc = cluster.resources_vpc_config
    public = bool(request.get("endpointPublicAccess", vpc.get("endpointPublicAccess", True)))
    private = bool(request.get("endpointPrivateAccess", vpc.get("endpointPrivateAccess", False)))
    cidrs = list(request.get("publicAccessCidrs") or vpc.get("publicAccessCidrs") or ["0.0.0.0/0"])
    if not public and not private:
        raise _invalid(
            "Cluster must have at least one of private or public endpoint access enabled", cluster=state.name
        )
    if request.get("publicAccessCidrs") is not None:
        _check_public_cidrs(request["publicAccessCidrs"], state.name)
    if (public, private, cidrs) == (
        vpc.get("endpointPublicAccess"),
        vpc.get("endpointPrivateAccess"),
        vpc.get("publicAccessCidrs"),
    ):
        raise _invalid(
            f"Cluster is already at the desired configuration with endpointPrivateAccess: {str(private).lower()} , "
            f"endpointPublicAccess: {str(public).lower()}, and Public Endpoint Restrictions: [{', '.join(cidrs)}]",
            cluster=state.name,
        )
    params = []
    if "endpointPublicAccess" in request:
        params.append(_param("EndpointPublicAccess", public))
    if "endpointPrivateAccess" in request:
        params.append(_param("EndpointPrivateAccess", private))
    if "publicAccessCidrs" in request:
        params.append(_param("PublicAccessCidrs", cidrs))

    def apply() -> None:
        vpc.update(endpointPublicAccess=public, endpointPrivateAccess=private, publicAccessCidrs=cidrs)

    return _new_update(state, "EndpointAccessUpdate", params, "cluster_config_update", apply)


def _vpc_update(req: _Request, state: _ClusterState, cluster: Any, request: dict[str, Any]) -> _Update:
    vpc = cluster.resources_vpc_config
    params = []
    subnets = request.get("subnetIds")
    groups = request.get("securityGroupIds")
    if subnets is not None:
        if _check_subnets(req, subnets, state.name, two_azs=True) != vpc.get("vpcId"):
            raise _invalid("Subnets must be in the cluster's VPC", cluster=state.name)
        # EKS: all subnets must be in the same set of AZs as originally provided at creation,
        # at least one in each (EKS user guide, networking requirements for VPC and subnets).
        original = state.zones or _zones(req, vpc.get("subnetIds") or [])
        requested = _zones(req, subnets)
        if requested != original:
            outside, uncovered = sorted(requested - original), sorted(original - requested)
            problem = (
                f"subnets in {', '.join(outside)}, outside" if outside else f"no subnet in {', '.join(uncovered)}, one"
            )
            raise _invalid(
                f"Provided subnets are not in the same set of Availability Zones as the cluster was created "
                f"with ({', '.join(sorted(original))}): {problem} of the cluster's Availability Zones",
                cluster=state.name,
            )
        params.append(_param("Subnets", subnets))
    if groups is not None:
        _check_security_groups(req, groups, vpc.get("vpcId"), state.name)
        params.append(_param("SecurityGroups", groups))

    def apply() -> None:
        if subnets is not None:
            vpc["subnetIds"] = list(subnets)
        if groups is not None:
            vpc["securityGroupIds"] = list(groups)

    return _new_update(state, "VpcConfigUpdate", params, "cluster_config_update", apply)


def _logging_update(state: _ClusterState, cluster: Any, request: dict[str, Any]) -> _Update:
    current = (cluster.logging or {}).get("clusterLogging") or []
    merged = _merge_logging(request, current, state.name)
    if merged == _merge_logging({}, current, state.name):
        raise _invalid("No changes needed for the logging config provided", cluster=state.name)

    def apply() -> None:
        cluster.logging = {"clusterLogging": merged}

    return _new_update(
        state,
        "LoggingUpdate",
        [_param("ClusterLogging", request.get("clusterLogging") or [])],
        "cluster_config_update",
        apply,
    )


def _access_config_update(state: _ClusterState, cluster: Any, request: dict[str, Any]) -> _Update:
    current = state.access_config.get("authenticationMode", "API_AND_CONFIG_MAP")
    mode = request.get("authenticationMode")
    if mode not in AUTH_MODES:
        raise _invalid(f"Unsupported authentication mode: {mode}", cluster=state.name)
    # EKS moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API and never back.
    if AUTH_MODES.index(mode) <= AUTH_MODES.index(current):
        raise _invalid(f"Unsupported authentication mode update from {current} to {mode}", cluster=state.name)

    def apply() -> None:
        state.access_config["authenticationMode"] = mode
        _sync_cluster_object(state)
        _bootstrap_access(state, cluster)  # EKS adds the creator's and nodes' entries now

    return _new_update(
        state, "AccessConfigUpdate", [_param("AuthenticationMode", mode)], "cluster_config_update", apply
    )


def _upgrade_policy_update(state: _ClusterState, cluster: Any, request: dict[str, Any]) -> _Update:
    support = request.get("supportType")
    if support not in ("STANDARD", "EXTENDED"):
        raise _invalid(f"Unsupported supportType: {support}", cluster=state.name)
    if (getattr(cluster, "upgrade_policy", None) or {}).get("supportType") == support:
        raise _invalid(f"Cluster is already at the desired upgrade policy supportType: {support}", cluster=state.name)

    def apply() -> None:
        cluster.upgrade_policy = {"supportType": support}

    return _new_update(state, "UpgradePolicyUpdate", [_param("UpgradePolicy", support)], "cluster_config_update", apply)


# -- node groups


def _validate_nodegroup(req: _Request, state: _ClusterState, cluster: Any, body: dict[str, Any]) -> None:
    name = state.name
    nodegroup = str(body.get("nodegroupName") or "")
    _require(body, "nodegroupName", "subnets", "nodeRole")
    if cluster.status != "ACTIVE":
        raise EksError(
            "InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name, nodegroup=nodegroup
        )
    version = body.get("version")
    wanted, cluster_minor = _minor(str(version)) if version else None, _minor(str(cluster.version))
    if version and (wanted is None or (cluster_minor is not None and wanted > cluster_minor)):
        raise _invalid(
            f"Requested Nodegroup Kubernetes version {version} must not be later than the cluster version "
            f"{cluster.version}",
            cluster=name,
            nodegroup=nodegroup,
        )
    _check_subnets(req, body["subnets"], name, two_azs=False)
    role_arn = str(body["nodeRole"])
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/.+", role_arn)
    if match is None:
        raise _invalid(f"Invalid Role Arn: '{role_arn}'", cluster=name, nodegroup=nodegroup)
    if match.group(1) == req.account:
        role = _find_role(req.account, req.region, role_arn)
        if role is None:
            raise _invalid(f"Role with arn: {role_arn} does not exist", cluster=name, nodegroup=nodegroup)
        if not _trusts(role, "ec2.amazonaws.com"):
            raise _invalid(
                f"Following required service principals [ec2.amazonaws.com] were not found in the trust "
                f"relationships of nodeRole {role_arn}",
                cluster=name,
                nodegroup=nodegroup,
            )
        attached = {arn.rsplit("/", 1)[-1] for arn in role.managed_policies}
        if not set(NODE_ROLE_POLICIES) <= attached or not attached & set(NODE_ROLE_ECR_POLICIES):
            partition = _partition(req.region)
            wanted = ", ".join(
                f"arn:{partition}:iam::aws:policy/{p}" for p in (*NODE_ROLE_POLICIES, NODE_ROLE_ECR_POLICIES[0])
            )
            raise _invalid(
                "The provided role doesn't have the Amazon EKS Managed Policies associated with it. Please ensure "
                f"the following policies [{wanted}] are attached",
                cluster=name,
                nodegroup=nodegroup,
            )
    if body.get("scalingConfig"):
        _validate_scaling({"minSize": 1, "maxSize": 2, "desiredSize": 2, **body["scalingConfig"]}, name, nodegroup)


def _validate_scaling(scaling: dict[str, Any], cluster: str, nodegroup: str) -> None:
    low, high, desired = (
        int(scaling.get("minSize", 0)),
        int(scaling.get("maxSize", 1)),
        int(scaling.get("desiredSize", 0)),
    )
    if high < 1:
        raise _invalid("Maximum capacity must be at least 1", cluster=cluster, nodegroup=nodegroup)
    if low > high:
        raise _invalid(
            f"Minimum capacity {low} can't be greater than max size {high}", cluster=cluster, nodegroup=nodegroup
        )
    if desired > high:
        raise _invalid(
            f"Desired capacity {desired} can't be greater than max size {high}", cluster=cluster, nodegroup=nodegroup
        )
    if desired < low:
        raise _invalid(
            f"Minimum capacity {low} can't be greater than desired size {desired}", cluster=cluster, nodegroup=nodegroup
        )


# -- add-ons


def _check_addon_version(spec: _AddonSpec, version: Any, cluster_version: str, cluster: str) -> None:
    found = next((v for v in spec.versions if v.version == version), None)
    if found is None or cluster_version not in found.cluster_versions:
        raise _invalid("Addon version specified is not supported", cluster=cluster, addon=spec.name)


def _validate_addon_options(body: dict[str, Any], cluster: str, addon: str) -> None:
    if body.get("resolveConflicts") not in (None, "OVERWRITE", "NONE", "PRESERVE"):
        raise _invalid(f"Unsupported resolveConflicts: {body['resolveConflicts']}", cluster=cluster, addon=addon)
    role = body.get("serviceAccountRoleArn")
    if role:
        _check_role_arn(str(role), cluster, addon)
    values = body.get("configurationValues")
    if values:
        parsed: Any = None
        try:
            parsed = json.loads(values)
        except ValueError:
            try:
                import yaml

                parsed = yaml.safe_load(values)
            except Exception:
                parsed = None
        if not isinstance(parsed, dict):
            raise _invalid(
                "ConfigurationValue provided in request is not supported: Json schema validation failed with "
                "error: [$: string found, object expected]",
                cluster=cluster,
                addon=addon,
            )


def _check_role_arn(arn: str, cluster: str, addon: str | None = None) -> None:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", arn):
        raise _invalid(f"Invalid Role Arn: '{arn}'", cluster=cluster, addon=addon)


def _addon_pod_identities(
    state: _ClusterState, spec: _AddonSpec, requested: Any, cluster: str, owner: str | None = None
) -> list[dict[str, str]]:
    """Validate an add-on's podIdentityAssociations: service accounts the add-on uses, one each,
    not already associated by someone other than the add-on."""
    if not requested:
        return []
    seen = set()
    for item in requested:
        service_account, role = item.get("serviceAccount"), item.get("roleArn")
        if service_account not in spec.pod_identity:
            raise _invalid(
                f"Service account {service_account} is not supported by addon {spec.name} for pod identity",
                cluster=cluster,
                addon=spec.name,
            )
        if service_account in seen:
            raise _invalid(
                f"Duplicate service account {service_account} in podIdentityAssociations",
                cluster=cluster,
                addon=spec.name,
            )
        seen.add(service_account)
        _check_role_arn(str(role), cluster, spec.name)
        namespace = spec.namespace
        for existing in state.associations.values():
            if (existing.namespace, existing.service_account) == (
                namespace,
                service_account,
            ) and existing.owner_arn != owner:
                raise EksError(
                    "ResourceInUseException",
                    f"Association already exists: {existing.id}",
                    cluster=cluster,
                    addon=spec.name,
                )
    return [{"serviceAccount": i["serviceAccount"], "roleArn": i["roleArn"]} for i in requested]


def _create_owned_associations(
    req: _Request, state: _ClusterState, addon: _Addon, spec: _AddonSpec, wanted: list[dict[str, str]]
) -> list[str]:
    ids = []
    for item in wanted:
        try:
            association = _new_association(
                req,
                state,
                addon.namespace or spec.namespace,
                item["serviceAccount"],
                item["roleArn"],
                None,
                addon.arn,
                {},
            )
        except EksError as error:  # someone associated the service account meanwhile
            log.warning(
                "sandbox: add-on %s keeps no association for %s: %s", addon.name, item["serviceAccount"], error.message
            )
            continue
        ids.append(association.id)
    return ids


# -- access entries


_PRINCIPAL = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(?:(role|user)/(.+)|(root))")


def _entry(state: _ClusterState, principal: str) -> _AccessEntry:
    entry = state.entries.get(principal)
    if entry is None:
        raise _entry_not_found(state.name)
    return entry


def _check_username(username: str, cluster: str) -> None:
    for prefix in ("system:", "eks:", "aws:", "amazon:", "iam:"):
        if username.startswith(prefix):
            raise _invalid(f"The username {username} is invalid: it cannot start with {prefix}", cluster=cluster)


def _check_groups(groups: Any, cluster: str) -> list[str]:
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise _invalid("kubernetesGroups must be a list of names", cluster=cluster)
    return list(dict.fromkeys(groups))


def _new_access_entry(
    state: _ClusterState,
    principal: str,
    entry_type: str,
    username: Any,
    groups: Any,
    tags: Any,
    *,
    system: bool = False,
) -> _AccessEntry:
    """Create an access entry as CreateAccessEntry does (`system` entries are the ones EKS makes
    itself, e.g. for node roles, and skip the caller-facing username/group rules)."""
    cluster = state.name
    stand_in = _MOTO_DEFAULT_IDENTITY.fullmatch(principal) is not None
    match = _PRINCIPAL.fullmatch(principal.replace(":sts::", ":iam::", 1) if stand_in else principal)
    invalid = _invalid("The specified principalArn is invalid: invalid principal.", cluster=cluster)
    if match is None or "/aws-service-role/" in principal:
        raise invalid  # includes STS session ARNs and service-linked roles
    principal_account = match.group(2)
    kind = "root" if match.group(5) else match.group(3)
    if entry_type not in ACCESS_ENTRY_TYPES:
        raise _invalid(
            f"The type {entry_type} is invalid; valid types are {', '.join(ACCESS_ENTRY_TYPES)}", cluster=cluster
        )
    if entry_type != "STANDARD":
        # Node entries: an IAM role of the cluster's account, no username or groups of your own.
        if kind != "role" or principal_account != state.account:
            raise invalid
        if (username or groups) and not system:
            raise _invalid(
                f"kubernetesGroups and username cannot be specified for access entries of type {entry_type}",
                cluster=cluster,
            )
    if (
        not system
        and not stand_in
        and principal_account == state.account
        and not _principal_exists(state.account, state.region, principal)
    ):
        raise invalid
    if principal in state.entries:
        raise EksError(
            "ResourceInUseException",
            "The specified access entry resource is already in use on this cluster.",
            cluster=cluster,
        )
    if entry_type == "STANDARD":
        if username is not None:
            _check_username(str(username), cluster)
        groups = _check_groups(groups, cluster) if groups is not None else []
    # The username EKS generates when none is given.
    if entry_type in ("EC2_LINUX", "EC2_WINDOWS", "EC2"):
        username, groups = "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]
    elif entry_type in ("FARGATE_LINUX", "HYBRID_LINUX"):
        username, groups = "system:node:{{SessionName}}", ["system:node-proxier", "system:nodes"]
    elif username is None:
        if kind == "role":
            role_name = match.group(4).rsplit("/", 1)[-1]  # EKS drops the role's path
            username = f"arn:{match.group(1)}:sts::{principal_account}:assumed-role/{role_name}/{{{{SessionName}}}}"
        else:
            username = principal
    name_part = (
        f"{kind}/{principal_account}/{match.group(4).rsplit('/', 1)[-1]}"
        if kind != "root"
        else f"root/{principal_account}"
    )
    now = _clock()
    entry = _AccessEntry(
        cluster,
        principal,
        f"arn:{state.partition}:eks:{state.region}:{state.account}:access-entry/{cluster}/{name_part}/{uuid.uuid4()}",
        entry_type,
        str(username),
        list(groups or []),
        now,
        now,
        dict(tags or {}),
    )
    state.entries[principal] = entry
    return entry


def _check_scope(scope: Any, cluster: str) -> dict[str, Any]:
    if not isinstance(scope, dict) or scope.get("type") not in ("cluster", "namespace"):
        raise _invalid("accessScope.type must be cluster or namespace", cluster=cluster)
    namespaces = scope.get("namespaces") or []
    if scope["type"] == "cluster":
        if namespaces:
            raise _invalid("namespaces cannot be specified with an accessScope of type cluster", cluster=cluster)
        return {"type": "cluster", "namespaces": []}
    if not namespaces:
        raise _invalid(
            "At least one namespace must be specified with an accessScope of type namespace", cluster=cluster
        )
    for namespace in namespaces:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\*?|\*", str(namespace)) or len(str(namespace)) > 63:
            raise _invalid(f"Invalid namespace {namespace}", cluster=cluster)
    return {"type": "namespace", "namespaces": list(dict.fromkeys(str(n) for n in namespaces))}


def _bootstrap_access(state: _ClusterState, cluster: Any) -> None:
    """The entries EKS makes itself once the cluster accepts access entries: the creator's
    (with cluster admin) if bootstrapClusterCreatorAdminPermissions, and one per managed node
    group role and Fargate pod execution role."""
    if state.bootstrapped or state.access_config.get("authenticationMode") == "CONFIG_MAP":
        return
    state.bootstrapped = True
    if (
        state.access_config.get("bootstrapClusterCreatorAdminPermissions", True)
        and state.creator_arn not in state.entries
    ):
        try:
            entry = _new_access_entry(state, state.creator_arn, "STANDARD", None, None, None, system=True)
        except EksError:
            log.warning("sandbox: cannot make the creator access entry for %s (%s)", state.name, state.creator_arn)
        else:
            policy = _access_policy_arn(state.partition, CLUSTER_ADMIN_POLICY)
            entry.policies[policy] = _AccessPolicyAssociation(
                policy, {"type": "cluster", "namespaces": []}, entry.created_at, entry.created_at
            )
    for nodegroup in cluster.nodegroups.values():
        _ensure_node_entry(
            state, cluster, nodegroup.node_role, "EC2_WINDOWS" if "WINDOWS" in str(nodegroup.ami_type) else "EC2_LINUX"
        )
    for profile in cluster.fargate_profiles.values():
        _ensure_node_entry(state, cluster, profile.pod_execution_role_arn, "FARGATE_LINUX")


def _ensure_node_entry(state: _ClusterState, cluster: Any, role_arn: str, entry_type: str) -> None:
    """EKS gives a managed node group's (or Fargate profile's) role an access entry unless one
    exists; on CONFIG_MAP clusters it edits aws-auth instead (nothing to simulate)."""
    if state.access_config.get("authenticationMode") == "CONFIG_MAP" or role_arn in state.entries:
        return
    try:
        _new_access_entry(state, role_arn, entry_type, None, None, None, system=True)
    except EksError as error:
        log.debug("sandbox: no node access entry for %s: %s", role_arn, error.message)


# -- pod identity


def _association(state: _ClusterState, association_id: str) -> _PodIdentity:
    association = state.associations.get(association_id)
    if association is None:
        raise EksError("ResourceNotFoundException", f"Association {association_id} not found", cluster=state.name)
    return association


def _new_association(
    req: _Request,
    state: _ClusterState,
    namespace: str,
    service_account: str,
    role_arn: str,
    tags: Any,
    owner_arn: str | None,
    body: dict[str, Any],
) -> _PodIdentity:
    cluster = state.name
    _check_role_arn(role_arn, cluster)
    if body.get("targetRoleArn"):
        _check_role_arn(str(body["targetRoleArn"]), cluster)
    for existing in state.associations.values():
        if existing.namespace == namespace and existing.service_account == service_account:
            raise EksError("ResourceInUseException", f"Association already exists: {existing.id}", cluster=cluster)
    alphabet = string.ascii_lowercase + string.digits
    association_id = "a-" + "".join(random.choices(alphabet, k=17))
    now = _clock()
    association = _PodIdentity(
        association_id,
        f"arn:{state.partition}:eks:{req.region}:{req.account}:podidentityassociation/{cluster}/{association_id}",
        cluster,
        namespace,
        service_account,
        role_arn,
        now,
        now,
        dict(tags or {}),
        owner_arn,
        bool(body["disableSessionTags"]) if body.get("disableSessionTags") is not None else None,
        body.get("targetRoleArn") or None,
        str(uuid.uuid4()) if body.get("targetRoleArn") else None,
        body.get("policy") or None,
    )
    state.associations[association_id] = association
    return association


# -- tags


_EKS_ARN = re.compile(r"arn:aws[a-z-]*:eks:([a-z0-9-]+):(\d{12}):([a-z-]+)/(.+)")


def _taggable(req: _Request, arn: str) -> dict[str, str]:
    """The live tag map of the EKS resource an ARN names (moto's objects for clusters, node
    groups and Fargate profiles; this module's records for the rest)."""
    match = _EKS_ARN.fullmatch(arn)
    if match is None:
        raise EksError("BadRequestException", f"{arn} is not a valid EKS resource ARN")
    region, account, kind, rest = match.groups()
    parts = rest.split("/")
    not_found = EksError("NotFoundException", "Resource was not found")
    cluster = _eks_backend(account, region).clusters.get(parts[0])
    if cluster is None:
        raise not_found
    if kind == "cluster" and len(parts) == 1:
        if cluster.tags is None:
            cluster.tags = {}
        return cluster.tags  # type: ignore[no-any-return]
    if (
        kind == "nodegroup"
        and len(parts) >= 2
        and parts[1] in cluster.nodegroups
        and cluster.nodegroups[parts[1]].arn == arn
    ):
        group = cluster.nodegroups[parts[1]]
        if group.tags is None:
            group.tags = {}
        return group.tags  # type: ignore[no-any-return]
    if kind == "fargateprofile" and len(parts) >= 2 and parts[1] in cluster.fargate_profiles:
        profile = cluster.fargate_profiles[parts[1]]
        if profile.fargate_profile_arn == arn:
            if profile.tags is None:
                profile.tags = {}
            return profile.tags  # type: ignore[no-any-return]
        raise not_found
    state = _clusters.get((account, region, parts[0]))
    if state is None or state.obj is not cluster:
        raise not_found
    if kind == "addon":
        addon = state.addons.get(parts[1]) if len(parts) >= 2 else None
        if addon is not None and addon.arn == arn:
            return addon.tags
    elif kind == "access-entry":
        for entry in state.entries.values():
            if entry.arn == arn:
                return entry.tags
    elif kind == "podidentityassociation":
        association = state.associations.get(parts[-1])
        if association is not None and association.arn == arn:
            return association.tags
    raise not_found
