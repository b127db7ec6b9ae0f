"""Resource types the emulated API server serves, and its discovery documents.

A resource type is what discovery lists: group, version, plural name, kind, scope, verbs and
subresources. Built-in types come from the table below (the ones a cluster bootstrapper and
Karpenter's install touch); custom ones are added and removed as CRDs are created and
deleted, one per served version, as the real apiextensions-apiserver does.

Discovery is the legacy form (`/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`).
kubectl and client-go ask for the aggregated form first (`as=APIGroupDiscoveryList` in
Accept) and fall back to this one when the answer's content type is plain JSON; the Python
client's DynamicClient only knows this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale"
    verbs: tuple[str, ...] = ALL_VERBS
    # For CRDs: the version's openAPIV3Schema, or None (no validation, no pruning).
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    custom: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored per group and plural, not per version: like a real API
        server, every served version reads and writes the same objects."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _r(
    gv: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(
        group,
        version,
        plural,
        kind,
        namespaced,
        kind.lower(),
        short,
        categories,
        subresources,
        verbs,
    )


_NS_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")

BUILTIN: tuple[ResourceType, ...] = (
    _r("v1", "namespaces", "Namespace", False, ("ns",), ("status",), _NS_VERBS),
    _r("v1", "configmaps", "ConfigMap", short=("cm",)),
    _r("v1", "secrets", "Secret"),
    _r("v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _r("v1", "services", "Service", short=("svc",), subresources=("status",), categories=("all",)),
    _r("v1", "endpoints", "Endpoints", short=("ep",)),
    _r("v1", "pods", "Pod", short=("po",), subresources=("status",), categories=("all",)),
    _r("v1", "events", "Event", short=("ev",)),
    _r("v1", "nodes", "Node", False, ("no",), ("status",)),
    _r("v1", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",)),
    _r(
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        short=("pvc",),
        subresources=("status",),
    ),
    _r("v1", "limitranges", "LimitRange", short=("limits",)),
    _r("v1", "resourcequotas", "ResourceQuota", short=("quota",), subresources=("status",)),
    _r(
        "apps/v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        subresources=("status",),
        categories=("all",),
    ),
    _r(
        "apps/v1",
        "daemonsets",
        "DaemonSet",
        short=("ds",),
        subresources=("status",),
        categories=("all",),
    ),
    _r(
        "apps/v1",
        "statefulsets",
        "StatefulSet",
        short=("sts",),
        subresources=("status",),
        categories=("all",),
    ),
    _r(
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        subresources=("status",),
        categories=("all",),
    ),
    _r("batch/v1", "jobs", "Job", subresources=("status",), categories=("all",)),
    _r(
        "batch/v1",
        "cronjobs",
        "CronJob",
        short=("cj",),
        subresources=("status",),
        categories=("all",),
    ),
    _r("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _r("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r(
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short=("pdb",),
        subresources=("status",),
    ),
    _r(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
    ),
    _r("coordination.k8s.io/v1", "leases", "Lease"),
    _r("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    _r("storage.k8s.io/v1", "storageclasses", "StorageClass", False, ("sc",)),
    _r("networking.k8s.io/v1", "ingresses", "Ingress", short=("ing",), subresources=("status",)),
    _r("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _r(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short=("hpa",),
        subresources=("status",),
    ),
)


def group_versions(types: list[ResourceType]) -> dict[str, list[str]]:
    """{group: [versions]} in first-seen order, core group excluded."""
    result: dict[str, list[str]] = {}
    for rtype in types:
        if rtype.group and rtype.version not in result.setdefault(rtype.group, []):
            result[rtype.group].append(rtype.version)
    return result


def _preferred(group: str, versions: list[str]) -> str:
    # Kubernetes prefers GA over beta over alpha, then the higher number.
    def rank(version: str) -> tuple[int, int, int]:
        match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
        if not match:
            return (-1, 0, 0)
        stability = {"alpha": 0, "beta": 1, None: 2}[match.group(2)]
        return (stability, int(match.group(1)), int(match.group(3) or 0))

    return max(versions, key=rank)


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    preferred = _preferred(group, versions)
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
    }


def api_group_list(types: list[ResourceType]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(g, vs) for g, vs in group_versions(types).items()],
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_resource_list(group_version: str, types: list[ResourceType]) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rtype in types:
        resources.append(
            {
                "name": rtype.plural,
                "singularName": rtype.singular or rtype.kind.lower(),
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(rtype.verbs),
                **({"shortNames": list(rtype.short_names)} if rtype.short_names else {}),
                **({"categories": list(rtype.categories)} if rtype.categories else {}),
            }
        )
        for sub in rtype.subresources:
            resources.append(
                {
                    "name": f"{rtype.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": "Scale" if sub == "scale" else rtype.kind,
                    **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
