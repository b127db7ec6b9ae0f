"""The EKS extension's state: the records EKS keeps that moto's Cluster lacks (add-ons, access
entries, pod identity associations, updates), one `ClusterState` per cluster, the lock they
live behind, and the settings (latency, time source, hooks) the rest of the package reads
through this module, so tests and the server can replace them at runtime."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.sandbox import eks_nodes
from provisioner.sandbox.eks.backends import partition_of
from provisioner.sandbox.eks.exceptions import invalid

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

# Set by the Kubernetes API emulator: (account, region, cluster name) -> (endpoint, CA data in
# base64) or None to keep moto's values. Used in CreateCluster and DescribeCluster responses.
CLUSTER_ENDPOINT_PROVIDER: Callable[[str, str, str], tuple[str, str] | None] | None = None

# Called as callback(account, region, cluster_name) after a cluster is gone. Registrations are
# code, not simulated state: reset() keeps them.
CLUSTER_DELETED_HOOKS: list[Callable[[str, str, str], object]] = []


def on_cluster_deleted(callback: Callable[[str, str, str], object]) -> Callable[[str, str, str], object]:
    """Register `callback(account, region, name)` for cluster deletions (usable as a decorator)."""
    CLUSTER_DELETED_HOOKS.append(callback)
    return callback


def pod_identity_role_arn(account: str, region: str, cluster: str, namespace: str, service_account: str) -> str | None:
    """The role a Pod Identity association gives pods of a service account (what the EKS Pod
    Identity agent would hand them), or None; for sandbox actors that act as that role."""
    with lock:
        state = cluster_states.get((account, region, cluster))
        if state is None:
            return None
        for association in state.associations.values():
            if association.namespace == namespace and association.service_account == service_account:
                return association.role_arn
    return None


def delay(kind: str) -> float:
    return max(0.0, float(LATENCY_SCALE)) * P50_SECONDS[kind]


def clock() -> float:
    """Wall-clock seconds; the single time source (tests may replace it)."""
    return time.time()


def timestamp(value: float) -> float:
    """EKS timestamps on the wire: epoch seconds."""
    return round(value, 3)


@dataclass
class Update:
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
            "createdAt": timestamp(self.created_at),
            "errors": [],
        }


@dataclass
class PodIdentity:
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
            createdAt=timestamp(self.created_at),
            modifiedAt=timestamp(self.modified_at),
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
class AccessPolicyAssociation:
    policy_arn: str
    scope: dict[str, Any]
    associated_at: float
    modified_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "policyArn": self.policy_arn,
            "accessScope": self.scope,
            "associatedAt": timestamp(self.associated_at),
            "modifiedAt": timestamp(self.modified_at),
        }


@dataclass
class AccessEntry:
    cluster: str
    principal_arn: str
    arn: str
    type: str
    username: str
    kubernetes_groups: list[str]
    created_at: float
    modified_at: float
    tags: dict[str, str] = field(default_factory=dict)
    policies: dict[str, AccessPolicyAssociation] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "clusterName": self.cluster,
            "principalArn": self.principal_arn,
            "kubernetesGroups": list(self.kubernetes_groups),
            "accessEntryArn": self.arn,
            "createdAt": timestamp(self.created_at),
            "modifiedAt": timestamp(self.modified_at),
            "tags": dict(self.tags),
            "username": self.username,
            "type": self.type,
        }


@dataclass
class Addon:
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

    def to_json(self, state: ClusterState) -> dict[str, Any]:
        out: dict[str, Any] = {
            "addonName": self.name,
            "clusterName": self.cluster,
            "status": self.status,
            "addonVersion": self.version,
            "health": {"issues": []},
            "addonArn": self.arn,
            "createdAt": timestamp(self.created_at),
            "modifiedAt": timestamp(self.modified_at),
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
class ClusterState:
    """What EKS keeps about a cluster that moto's Cluster object does not."""

    account: str
    region: str
    name: str
    obj: Any  # moto's Cluster; a different object under the same name means a new cluster
    creator_arn: str
    access_config: dict[str, Any]
    bootstrapped: bool = False
    addons: dict[str, Addon] = field(default_factory=dict)
    entries: dict[str, AccessEntry] = field(default_factory=dict)
    associations: dict[str, PodIdentity] = field(default_factory=dict)
    updates: dict[str, Update] = field(default_factory=dict)
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
        return partition_of(self.region)

    def in_progress(self, *, nodegroup: str | None = None, addon: str | None = None) -> list[Update]:
        return [
            u
            for u in self.updates.values()
            if u.status == "InProgress" and u.nodegroup == nodegroup and u.addon == addon
        ]


lock = threading.RLock()
cluster_states: dict[tuple[str, str, str], ClusterState] = {}
# Clusters whose deletion finished; their hooks run once the lock is released.
deleted_clusters: list[tuple[str, str, str]] = []


def state() -> list[Any]:
    """The containers `reset()` clears, for a sandbox snapshot (sandbox/snapshot.py)."""
    return [cluster_states, deleted_clusters, *eks_nodes.state()]


def reset() -> None:
    """Forget every add-on, access entry, association and update (moto forgets the clusters)."""
    with lock:
        cluster_states.clear()
        deleted_clusters.clear()
    eks_nodes.reset()


def replay(
    state: ClusterState, token: Any, operation: str, fingerprint: str, exists: Callable[[str], bool]
) -> str | None:
    """What a create with this clientRequestToken made before, if it still exists (EKS's
    idempotency: the same request again is answered with the same resource)."""
    if not token or str(token) not in state.tokens:
        return None
    seen_operation, seen_fingerprint, made = state.tokens[str(token)]
    if not exists(made):
        return None
    if (seen_operation, seen_fingerprint) != (operation, fingerprint):
        raise invalid("The clientRequestToken was already used with a different request.", cluster=state.name)
    return made


def request_fingerprint(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "clientRequestToken"}, sort_keys=True, default=str)
