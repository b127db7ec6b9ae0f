"""Every Kubernetes object the Karpenter install puts in the cluster, built from the plan.

Pure functions, no calls: `apply` server-side applies these objects and `manifests ENV`
prints them (`render`), so what a GitOps user commits is exactly what `apply` installs. The
upstream CRDs are not built here (`crds.py` fetches and verifies them).

Layout (Karpenter v1 without Helm, modelled on the official chart's templates):

- Karpenter runs in `kube-system`, which every cluster has: the namespace is not ours and is
  never created or deleted. ServiceAccount `karpenter` (its AWS role comes from the EKS Pod
  Identity association on the AWS side, so it needs no annotation).
- RBAC exactly as the v1.14.1 chart grants it: ClusterRoles `karpenter-core` (NodePools,
  NodeClaims, the objects scheduling simulation reads, node and pod eviction writes) and
  `karpenter` (EC2NodeClasses), Roles `karpenter` (its leader election lease in
  kube-system) and `karpenter-dns` (read the kube-dns Service), each with its binding. No
  rule names `*`, no Secret or ConfigMap is readable. The chart's `karpenter-admin`
  aggregate ClusterRole (NodePool/EC2NodeClass rights for namespace admins) is not installed
  (`chart.CHART_DIFFERENCES`).
- Deployment `karpenter`: the chart's defaults (environment, pod and container security
  context with the RuntimeDefault seccomp profile, service account token mounted by the pod
  while the ServiceAccount does not automount it, `system-cluster-critical`, never on a node
  Karpenter launched, one per node and spread across zones, probes, ports) and the image
  pinned by digest as the chart pins it (`chart.CONTROLLER_IMAGE_DIGESTS`), with the deliberate
  differences in `chart.CHART_DIFFERENCES`: only on the system node group
  (`node.innovate.io/pool=system`), AWS_REGION set, and resources requested.
- PodDisruptionBudget (maxUnavailable 1) and the metrics Service (8080).
- EC2NodeClass `default` and one NodePool per plan pool (SPEC section 8).

Inputs known only to AWS: the cluster endpoint. The queue and node role have deterministic
names (the AWS-side nodes' names), so they render without AWS. With no endpoint
(`cluster_endpoint=None`, e.g. `manifests` before the cluster exists) `CLUSTER_ENDPOINT` is
left out: Karpenter then looks the endpoint up itself with eks:DescribeCluster, which the
controller's policy allows.

EC2NodeClass tags: the plan's own tags only. The ownership tags (`provisioner:plan`,
`provisioner:key`) are deliberately not passed on: Karpenter copies these tags to the launch
templates and instances it creates, and the tool's tag-filtered discovery would take them
for its own resources (and delete them as orphans).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.kube.objects import mark, yaml_stream
from provisioner.steps.karpenter.chart import (
    AWS_RULES,
    CORE_RULES,
    DNS_ROLE_RULES,
    FEATURE_GATES,
    SYSTEM_ROLE_RULES,
    controller_image,
    rules,
)

NAME = "karpenter"
NODE_CLASS = "default"
SYSTEM_POOL_LABEL = ("node.innovate.io/pool", "system")
POOL_LABEL = "node.innovate.io/pool"
KARPENTER_NODE_LABEL = "karpenter.sh/nodepool"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
METRICS_PORT = 8080
HEALTH_PORT = 8081
REPLICAS = 2

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"


@dataclass(frozen=True)
class Inputs:
    """What the objects need besides the plan's `karpenter` section."""

    plan: str
    region: str
    cluster_name: str
    queue_name: str
    node_role_name: str
    namespace: str
    service_account: str
    version: str
    ami_alias: str
    root_volume_gib: int
    node_pools: tuple[Any, ...]  # planfile NodePoolSpec
    tags: dict[str, str] = field(default_factory=dict)
    # str, a Pending placeholder in a plan, or None when unknown (left out).
    cluster_endpoint: Any = None


# --- keys -----------------------------------------------------------------------------------


def object_key(kind: str, name: str) -> str:
    return f"karpenter/{kind.lower()}/{name}"


DEPLOYMENT_KEY = object_key("Deployment", NAME)
NODE_CLASS_KEY = object_key("EC2NodeClass", NODE_CLASS)


def nodepool_key(name: str) -> str:
    return object_key("NodePool", name)


def crd_key(crd_name: str) -> str:
    return object_key("CRD", crd_name)


# --- builders -------------------------------------------------------------------------------


def app_labels(inputs: Inputs) -> dict[str, str]:
    return version_labels(inputs.version)


def version_labels(version: str) -> dict[str, str]:
    return {**selector_labels(), "app.kubernetes.io/version": version}


def selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}


def _meta(inputs: Inputs, name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = app_labels(inputs)
    return meta


def _subject(inputs: Inputs) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": inputs.service_account, "namespace": inputs.namespace}]


def service_account(inputs: Inputs) -> dict[str, Any]:
    # As the chart: the account mounts no token by default; the Deployment's pods ask for one.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(inputs, inputs.service_account, inputs.namespace),
        "automountServiceAccountToken": False,
    }


def rbac(inputs: Inputs) -> list[dict[str, Any]]:
    ns = inputs.namespace
    objects: list[dict[str, Any]] = []
    for name, table in ((f"{NAME}-core", CORE_RULES), (NAME, AWS_RULES)):
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": _meta(inputs, name),
                "rules": rules(table),
            }
        )
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta(inputs, name),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": _subject(inputs),
            }
        )
    for name, namespace, table in ((NAME, ns, SYSTEM_ROLE_RULES), (f"{NAME}-dns", "kube-system", DNS_ROLE_RULES)):
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta(inputs, name, namespace),
                "rules": rules(table),
            }
        )
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(inputs, name, namespace),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": _subject(inputs),
            }
        )
    return objects


def _env(inputs: Inputs) -> list[dict[str, Any]]:
    plain = [
        ("KUBERNETES_MIN_VERSION", "1.19.0-0"),
        ("KARPENTER_SERVICE", NAME),
        ("LOG_LEVEL", "info"),
        ("LOG_OUTPUT_PATHS", "stdout"),
        ("LOG_ERROR_OUTPUT_PATHS", "stderr"),
        ("METRICS_PORT", str(METRICS_PORT)),
        ("HEALTH_PROBE_PORT", str(HEALTH_PORT)),
    ]
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain]
    env += [
        {"name": "SYSTEM_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "CPU_REQUESTS",
            "valueFrom": {
                "resourceFieldRef": {"containerName": "controller", "divisor": "1m", "resource": "requests.cpu"}
            },
        },
        {
            "name": "MEMORY_LIMIT",
            "valueFrom": {
                "resourceFieldRef": {"containerName": "controller", "divisor": "0", "resource": "limits.memory"}
            },
        },
    ]
    # The chart's order and defaults; a setting the chart leaves out when false stays out.
    settings = [
        ("FEATURE_GATES", FEATURE_GATES),
        ("BATCH_MAX_DURATION", "10s"),
        ("BATCH_IDLE_DURATION", "1s"),
        ("PREFERENCE_POLICY", "Respect"),
        ("MIN_VALUES_POLICY", "Strict"),
        ("CLUSTER_NAME", inputs.cluster_name),
    ]
    if inputs.cluster_endpoint is not None:
        settings.append(("CLUSTER_ENDPOINT", inputs.cluster_endpoint))
    settings += [
        ("VM_MEMORY_OVERHEAD_PERCENT", "0.075"),
        ("INTERRUPTION_QUEUE", inputs.queue_name),
        ("RESERVED_ENIS", "0"),
        ("IGNORE_DRA_REQUESTS", "true"),
        ("AMI_REFRESH_INTERVAL", "1m"),
        ("SUBNET_REFRESH_INTERVAL", "1m"),
        ("AWS_REGION", inputs.region),
    ]
    env += [{"name": k, "value": v} for k, v in settings]
    return env


def deployment(inputs: Inputs) -> dict[str, Any]:
    selector = selector_labels()
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": True,
        "serviceAccountName": inputs.service_account,
        "securityContext": {"fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "priorityClassName": "system-cluster-critical",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "containers": [
            {
                "name": "controller",
                "image": controller_image(inputs.version),
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {
                    "privileged": False,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "capabilities": {"drop": ["ALL"]},
                },
                "env": _env(inputs),
                "ports": [
                    {"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                    {"name": "http", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                ],
                "livenessProbe": {
                    "initialDelaySeconds": 30,
                    "timeoutSeconds": 30,
                    "httpGet": {"path": "/healthz", "port": "http"},
                },
                "readinessProbe": {
                    "initialDelaySeconds": 5,
                    "timeoutSeconds": 30,
                    "httpGet": {"path": "/readyz", "port": "http"},
                },
                # No CPU limit (throttling a controller slows every scheduling decision); the
                # memory limit is what MEMORY_LIMIT reports to the controller.
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            }
        ],
        "nodeSelector": {"kubernetes.io/os": "linux", SYSTEM_POOL_LABEL[0]: SYSTEM_POOL_LABEL[1]},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": KARPENTER_NODE_LABEL, "operator": "DoesNotExist"}]}
                    ]
                }
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": HOST_KEY}
                ]
            },
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_KEY,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": dict(selector)},
            },
        ],
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(inputs, NAME, inputs.namespace),
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 10,
            "strategy": {"rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": dict(selector)}, "spec": pod_spec},
        },
    }


def pod_disruption_budget(inputs: Inputs) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(inputs, NAME, inputs.namespace),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels()}},
    }


def metrics_service(inputs: Inputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(inputs, NAME, inputs.namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(),
            "ports": [{"name": "http-metrics", "port": METRICS_PORT, "targetPort": "http-metrics", "protocol": "TCP"}],
        },
    }


def node_class(inputs: Inputs) -> dict[str, Any]:
    discovery = {"karpenter.sh/discovery": inputs.cluster_name}
    return {
        "apiVersion": NODECLASS_API,
        "kind": "EC2NodeClass",
        "metadata": _meta(inputs, NODE_CLASS),
        "spec": {
            "role": inputs.node_role_name,
            "amiSelectorTerms": [{"alias": inputs.ami_alias}],
            "subnetSelectorTerms": [{"tags": dict(discovery)}],
            "securityGroupSelectorTerms": [{"tags": dict(discovery)}],
            # IMDSv2 only, and hop limit 1 so that pods cannot reach the node's credentials.
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": 1,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "rootVolume": True,
                    "ebs": {
                        "volumeSize": f"{inputs.root_volume_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            "tags": dict(inputs.tags),
        },
    }


def node_pool(inputs: Inputs, pool: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {POOL_LABEL: pool.name}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS},
                "expireAfter": pool.expire_after,
                "requirements": [
                    {"key": "kubernetes.io/arch", "operator": "In", "values": [pool.architecture]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    # Both allowed: Karpenter prefers spot and falls back to on-demand.
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
                    {
                        "key": "karpenter.k8s.aws/instance-family",
                        "operator": "In",
                        "values": list(pool.instance_families),
                    },
                ],
            },
        },
        "limits": {"cpu": str(pool.cpu_limit), "memory": f"{pool.memory_limit_gib}Gi"},
        "disruption": {
            "consolidationPolicy": pool.consolidation_policy,
            "consolidateAfter": pool.consolidate_after,
            "budgets": [{"nodes": pool.disruption_budget_nodes}],
        },
    }
    if pool.weight is not None:
        spec["weight"] = pool.weight
    return {"apiVersion": NODEPOOL_API, "kind": "NodePool", "metadata": _meta(inputs, pool.name), "spec": spec}


# --- all objects ----------------------------------------------------------------------------


def controller_objects(inputs: Inputs) -> list[tuple[str, dict[str, Any]]]:
    """(key, marked manifest) for the controller: account, RBAC, Deployment, PDB, Service."""
    plain = [
        service_account(inputs),
        *rbac(inputs),
        pod_disruption_budget(inputs),
        metrics_service(inputs),
        deployment(inputs),
    ]
    return [_marked(inputs, obj) for obj in plain]


def node_objects(inputs: Inputs) -> list[tuple[str, dict[str, Any]]]:
    """(key, marked manifest) for the EC2NodeClass and the NodePools."""
    return [_marked(inputs, node_class(inputs)), *(_marked(inputs, node_pool(inputs, p)) for p in inputs.node_pools)]


def all_objects(inputs: Inputs) -> list[tuple[str, dict[str, Any]]]:
    return [*controller_objects(inputs), *node_objects(inputs)]


def _marked(inputs: Inputs, obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = object_key(obj["kind"], obj["metadata"]["name"])
    return key, mark(obj, inputs.plan, key)


def render(inputs: Inputs, live: bool = True) -> str:
    """The YAML stream `manifests ENV` prints: every object apply installs except the CRDs.
    `live`: whether AWS was asked for the endpoint (so a missing one means no cluster yet)."""
    header = (
        f"Karpenter {inputs.version} for cluster {inputs.cluster_name} (plan {inputs.plan}), as `apply` installs it.\n"
        f"The CRDs come first and are not included: the official files of v{inputs.version},\n"
        f"https://github.com/aws/karpenter-provider-aws/tree/v{inputs.version}/pkg/apis/crds\n"
    )
    if inputs.cluster_endpoint is None and not live:
        header += (
            "CLUSTER_ENDPOINT is left out: only AWS knows it (`manifests ENV --live` reads it); the\n"
            "controller looks it up with eks:DescribeCluster at start.\n"
        )
    elif inputs.cluster_endpoint is None:
        header += (
            "CLUSTER_ENDPOINT is left out (the cluster does not exist yet): the controller looks it\n"
            "up with eks:DescribeCluster at start.\n"
        )
    return yaml_stream([obj for _, obj in all_objects(inputs)], header=header)
