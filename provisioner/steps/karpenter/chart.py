"""What the Karpenter install takes from the official chart (v1.14.1), as data: the controller
image pinned by digest, the feature gates, the RBAC rules, and where the objects deliberately
differ from what the chart renders (`CHART_DIFFERENCES`, checked by
tests/conformance/test_karpenter_chart_reference.py). manifests.py builds the objects.
"""

from __future__ import annotations

from typing import Any

from provisioner.engine import PermanentError
from provisioner.steps.karpenter.policies import ABSENT, Difference

CONTROLLER_REPOSITORY = "public.ecr.aws/karpenter/controller"
# The controller image of each supported version, pinned by digest as the chart's values.yaml
# pins it (`repository:tag@digest`). The digest is the one upstream's release commit for the
# version writes into charts/karpenter/values.yaml (v1.14.1: commit c88abbbad, "Stable Release
# updates Release v1.14.1"; the chart at the git tag itself still names 1.13.0). Adding a
# Karpenter version: add its digest here, its CRD digests in crds.py and the version in the
# plan catalog.
CONTROLLER_IMAGE_DIGESTS = {
    "1.14.1": "sha256:445baefaaa689029cc12ac1f659b916b0b82fb14308ce536f8521fcf079116fa",
}


def controller_image(version: str) -> str:
    try:
        digest = CONTROLLER_IMAGE_DIGESTS[version]
    except KeyError:
        raise PermanentError(
            f"no pinned controller image digest for Karpenter {version}",
            hint=f"pinned versions: {', '.join(sorted(CONTROLLER_IMAGE_DIGESTS))}",
        ) from None
    return f"{CONTROLLER_REPOSITORY}:{version}@{digest}"


# Karpenter's chart defaults (values.yaml of v1.14.1) the Deployment's environment follows.
FEATURE_GATES = (
    "ReservedCapacity=true,SpotToSpotConsolidation=false,NodeRepair=false,NodeOverlay=false,"
    "StaticCapacity=false,CapacityBuffer=false"
)

# Where the controller's objects deliberately differ from what the v1.14.1 chart renders with
# its default values (and the cluster name, queue and endpoint set). Paths are into the
# rendered object, with a container's `env` keyed by variable name;
# tests/conformance/test_karpenter_chart_reference.py applies exactly these.
CHART_DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "Deployment/karpenter",
        ("spec", "template", "spec", "nodeSelector", "node.innovate.io/pool"),
        "system",
        "the controller runs only on the system node group (never on capacity it manages itself)",
    ),
    Difference(
        "Deployment/karpenter",
        ("spec", "template", "spec", "containers", 0, "env", "AWS_REGION"),
        {"name": "AWS_REGION", "value": "${Region}"},
        "pods on nodes with IMDSv2 and hop limit 1 cannot ask the instance metadata service for the region",
    ),
    Difference(
        "Deployment/karpenter",
        ("spec", "template", "spec", "containers", 0, "resources"),
        {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "as Karpenter's getting-started guide installs it: a guaranteed request, no CPU limit (throttling slows "
        "every scheduling decision), the memory limit MEMORY_LIMIT reports",
    ),
    Difference(
        "ClusterRole/karpenter-admin",
        (),
        ABSENT,
        "the aggregate-to-admin ClusterRole (NodePool/EC2NodeClass rights for namespace admins) is not "
        "installed: NodePools and the EC2NodeClass come from the plan",
    ),
    Difference(
        "Deployment/karpenter",
        ("spec", "template", "spec", "containers", 0, "image"),
        "${Image}",
        "the chart at the v1.14.1 tag still pins 1.13.0; the image of the version installed, pinned by digest "
        "the same way (CONTROLLER_IMAGE_DIGESTS)",
    ),
)


# --- RBAC rules as data ---------------------------------------------------------------------
# (apiGroups, resources, verbs[, resourceNames]), as the chart's clusterrole-core.yaml,
# clusterrole.yaml and role.yaml grant them.

READ = ("get", "list", "watch")

CORE_RULES: tuple[tuple[tuple[str, ...], ...], ...] = (
    # read
    (
        ("karpenter.sh",),
        ("nodepools", "nodepools/status", "nodeclaims", "nodeclaims/status", "nodeoverlays", "nodeoverlays/status"),
        READ,
    ),
    (("autoscaling.x-k8s.io",), ("capacitybuffers", "capacitybuffers/status"), READ),
    (("",), ("podtemplates",), READ),
    (
        ("",),
        ("pods", "nodes", "persistentvolumes", "persistentvolumeclaims", "replicationcontrollers", "namespaces"),
        READ,
    ),
    (("storage.k8s.io",), ("storageclasses", "csinodes", "volumeattachments"), READ),
    (("apps",), ("daemonsets", "deployments", "replicasets", "statefulsets"), READ),
    (("policy",), ("poddisruptionbudgets",), READ),
    (("",), ("events",), READ),
    # write
    (("karpenter.sh",), ("nodeclaims", "nodeclaims/status"), ("create", "delete", "update", "patch")),
    (("karpenter.sh",), ("nodepools", "nodepools/status", "nodeoverlays/status"), ("update", "patch")),
    (("autoscaling.x-k8s.io",), ("capacitybuffers/status",), ("update", "patch")),
    (("",), ("events",), ("create", "patch")),
    (("",), ("nodes",), ("patch", "delete", "update")),
    (("",), ("pods/eviction",), ("create",)),
    (("",), ("pods",), ("delete",)),
)

AWS_RULES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("karpenter.k8s.aws",), ("ec2nodeclasses",), READ),
    (("karpenter.k8s.aws",), ("ec2nodeclasses", "ec2nodeclasses/status"), ("patch", "update")),
)

SYSTEM_ROLE_RULES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("coordination.k8s.io",), ("leases",), ("get", "watch")),
    (("coordination.k8s.io",), ("leases",), ("patch", "update"), ("karpenter-leader-election",)),
    # RBAC cannot restrict `create` by name.
    (("coordination.k8s.io",), ("leases",), ("create",)),
)

DNS_ROLE_RULES: tuple[tuple[tuple[str, ...], ...], ...] = ((("",), ("services",), ("get",), ("kube-dns",)),)


def rules(table: tuple[tuple[tuple[str, ...], ...], ...]) -> list[dict[str, Any]]:
    rules = []
    for row in table:
        rule: dict[str, Any] = {"apiGroups": list(row[0]), "resources": list(row[1]), "verbs": list(row[2])}
        if len(row) > 3:
            rule["resourceNames"] = list(row[3])
        rules.append(rule)
    return rules
