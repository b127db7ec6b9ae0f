"""Karpenter inside the cluster: CRDs, controller, EC2NodeClass and NodePools (SPEC section 8).

This module builds the graph; the kinds are in kinds.py, on the generic `k8s:object`
(steps/k8s/objects.py), which reaches the cluster through steps/k8s/connection.py.

Kinds (all server-side applied with field manager `provisioner`, force on):

- `k8s:crd`: the official CRDs of the pinned version (`crds.py`: verified by SHA-256,
  cached, never copied into the repository). Applied on every apply whose CRDs differ, and
  before the controller, so an upgrade moves the CRDs first. A CRD is deleted only by a
  destroy (or when a new version drops it), and only once no object of its kind is left:
  Karpenter's NodeClaims are waited for, any other object makes the deletion fail rather
  than be swept away with the CRD.
- `k8s:object`: the controller's ServiceAccount, RBAC, PodDisruptionBudget and Service.
- `k8s:deployment`: the controller; create, update and every apply that leaves it
  unchanged wait until it is Available with every replica updated (progress is reported).
- `k8s:ec2nodeclass`, `k8s:nodepool`: deletion waits until Karpenter has finished: a
  NodePool until the NodeClaims of that pool are gone, an EC2NodeClass until its finalizer
  is removed (SPEC section 7's order: NodePools, nodes, EC2NodeClass, controller).

Graph (true dependencies only; every node needs the API server and the tool's access entry,
`eks/cluster` + `eks/access/tool-admin`):

    karpenter/crd/{nodepools,nodeclaims,ec2nodeclasses} ──┐
    karpenter/{serviceaccount,clusterrole*,role*}/... ─────┤   (PDB and metrics Service: API only)
    karpenter/pod-identity, eks/nodegroup/system, ─────────┼──> karpenter/deployment/karpenter
    eks/addon/coredns, karpenter/interruption-queue ───────┘          │ (waits until Available)
    karpenter/crd/ec2nodeclasses, karpenter/node-role, ──────> karpenter/ec2nodeclass/default
    karpenter/node-access-entry                                       │
    karpenter/crd/nodepools ─────────────────────────────────> karpenter/nodepool/<pool>

A destroy walks it backwards: NodePools (and their nodes), the EC2NodeClass, the controller,
then the CRDs, the node group and the cluster.

CRD files are needed when the cluster exists (discovery verifies them, so a digest mismatch
fails the plan before anything is written) or when the CRDs are created; a plan for an
environment without a cluster needs neither them nor a connection.

Discovery: one label-selected list per Kubernetes kind per cluster (`kube.objects`), keys
from the `provisioner.innovate.io/key` annotation. The API is reached exactly as on EKS:
endpoint and CA from the cluster (`eks:cluster` refs when it was created in this run, else
its discovery record), a token from STS (`eks_token`). No cluster, or one without an
endpoint yet: nothing is live, so a plan shows creates.

Drift: only the fields the manifests set are compared (`kube.objects`), so a NodePool field
changed in the plan or edited in the cluster shows as an update naming the field, and the
next server-side apply restores it; fields the tool set before and the plan no longer sets
show as `stale_fields` and are removed by that apply. Objects the plan no longer lists are
deleted by the engine's orphan handling; only objects carrying the plan's ownership labels
are ever listed, and a delete re-reads the object and leaves it alone unless it still
carries them and the same key. A create never adopts an object of the same name that lacks
the labels (it fails with an ownership error).
"""

from __future__ import annotations

from typing import Any

from provisioner.aws.errors import ClientError, is_not_found
from provisioner.constants import cluster_name
from provisioner.engine import Resource
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.common.keys import CLUSTER, NODEGROUP, TOOL_ACCESS, addon_key
from provisioner.steps.k8s.objects import KubeObject, Ref
from provisioner.steps.karpenter import aws_side, crds, manifests
from provisioner.steps.karpenter.kinds import CustomResourceDefinition, Deployment, EC2NodeClass, NodePool, crd_name_of
from provisioner.steps.karpenter.manifests import DEPLOYMENT_KEY, NODE_CLASS_KEY, Inputs, crd_key

COREDNS = addon_key("coredns")


def inputs_for(plan: Plan, region: str, endpoint: Any = None) -> Inputs:
    """The manifests' inputs. The queue and node role names are the AWS-side nodes' own
    (deterministic) names; `endpoint` is a `Ref`, a URL, or None (left out)."""
    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    names: dict[str, Any] = {node.key: getattr(node, "name", None) for node in aws_side.aws_resources(plan, region)}
    return Inputs(
        plan=plan.name,
        region=region,
        cluster_name=cluster_name(plan.name),
        cluster_endpoint=endpoint,
        queue_name=names[aws_side.QUEUE],
        node_role_name=names[aws_side.NODE_ROLE],
        namespace=aws_side.NAMESPACE,
        service_account=aws_side.SERVICE_ACCOUNT,
        version=spec.karpenter.version,
        ami_alias=spec.karpenter.ami_alias,
        root_volume_gib=spec.karpenter.root_volume_gib,
        node_pools=tuple(spec.karpenter.node_pools),
        tags=dict(spec.tags),
    )


def resources(plan: Plan, region: str) -> list[Resource]:
    """The in-cluster nodes of an environment plan (see the module docstring's graph)."""
    inputs = inputs_for(plan, region, endpoint=Ref(CLUSTER, "endpoint"))
    api = (CLUSTER, TOOL_ACCESS)
    crd_nodes = {
        crd_name_of(file): CustomResourceDefinition(
            key=crd_key(crd_name_of(file)),
            depends_on=api,
            version=inputs.version,
            file=file,
            crd_name=crd_name_of(file),
        )
        for file in crds.crd_files(inputs.version)
    }
    nodes: list[Resource] = list(crd_nodes.values())
    controller_keys = []
    for key, manifest in manifests.controller_objects(inputs):
        if manifest["kind"] == "Deployment":
            continue
        nodes.append(KubeObject(key=key, depends_on=api, manifest=manifest))
        if manifest["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            controller_keys.append(key)  # what the pods need to start; not the PDB or Service
    (deployment,) = [m for k, m in manifests.controller_objects(inputs) if k == DEPLOYMENT_KEY]
    nodes.append(
        Deployment(
            key=DEPLOYMENT_KEY,
            manifest=deployment,
            depends_on=(
                *api,
                *(n.key for n in crd_nodes.values()),
                *controller_keys,
                aws_side.POD_IDENTITY,
                NODEGROUP,
                COREDNS,
                aws_side.QUEUE,
            ),
        )
    )
    for key, manifest in manifests.node_objects(inputs):
        if manifest["kind"] == "EC2NodeClass":
            nodes.append(
                EC2NodeClass(
                    key=key,
                    manifest=manifest,
                    depends_on=(
                        *api,
                        crd_key("ec2nodeclasses.karpenter.k8s.aws"),
                        DEPLOYMENT_KEY,
                        aws_side.NODE_ROLE,
                        aws_side.NODE_ACCESS_ENTRY,
                    ),
                )
            )
        else:
            nodes.append(
                NodePool(
                    key=key,
                    manifest=manifest,
                    depends_on=(*api, crd_key("nodepools.karpenter.sh"), DEPLOYMENT_KEY, NODE_CLASS_KEY),
                )
            )
    return nodes


# --- `manifests ENV` ------------------------------------------------------------------------


def render_manifests(plan: Plan, region: str, endpoint: str | None = None, live: bool = True) -> str:
    """What `manifests ENV` prints (no AWS call). Pass the cluster's endpoint when it exists
    (`cluster_endpoint`); without it CLUSTER_ENDPOINT is left out (see manifests.py). `live`:
    whether AWS was asked (else the endpoint is only unknown, not missing)."""
    return manifests.render(inputs_for(plan, region, endpoint), live=live)


def cluster_endpoint(session: Any, plan: Plan) -> str | None:
    """The plan's cluster endpoint from DescribeCluster, or None when the cluster does not
    exist (one call; for `manifests ENV`)."""
    try:
        cluster = session.client("eks").describe_cluster(name=cluster_name(plan.name))["cluster"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return cluster.get("endpoint") or None
