"""Worker nodes of the sandbox's managed node groups: EC2 instances and Kubernetes Nodes.

EKS runs a managed node group as an Auto Scaling group: `desiredSize` EC2 instances spread
over the group's subnets, tagged `eks:cluster-name`, `eks:nodegroup-name` and
`kubernetes.io/cluster/<cluster>=owned`, each joining the cluster as a Node named after the
instance's private DNS name, with `spec.providerID` `aws:///<zone>/<instance id>`, the group's
labels and taints, EKS's own labels (`eks.amazonaws.com/nodegroup`, `.../capacityType`,
`.../nodegroup-image`) and the well-known ones (`node.kubernetes.io/instance-type`,
`topology.kubernetes.io/zone`, `kubernetes.io/arch`, ...), and a Ready condition once the
kubelet runs. moto's node groups are bookkeeping only: no instance, so `kubectl get nodes`
showed nothing although the group said two.

`reconcile(account, region, cluster)` makes the picture true for one cluster (`eks` calls
it while settling each cluster, with its lock held): an ACTIVE or UPDATING group gets
instances launched in moto's EC2 backend until it has `desiredSize` (round robin over its
subnets, the launch template's instance type and security groups, else the group's first
instance type and the cluster security group), scale-in terminates the newest first, and a
group that is gone or DELETING has its instances terminated (EKS drains and terminates them
before the group is gone). When a cluster's node-group Nodes change, the full list is queued
for `NODE_SYNC(account, region, cluster, kubernetes_version, nodes)`, which the Kubernetes
emulator installs (`kube_emulator.sync_nodes`); `flush()` calls it outside the EKS lock.

Not emulated: the Auto Scaling group itself, replacing instances on a version or launch
template update (they stay), kubelet heartbeats, and Karpenter's nodes (Karpenter makes
those itself, and here nothing runs it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

# Set by the sandbox server: installs the node-group Nodes of a cluster in its Kubernetes API.
NODE_SYNC: Callable[[str, str, str, str, list[dict[str, Any]]], None] | None = None

TAG_CLUSTER = "eks:cluster-name"
TAG_NODEGROUP = "eks:nodegroup-name"
LABEL_NODEGROUP = "eks.amazonaws.com/nodegroup"
SERVING = ("ACTIVE", "UPDATING")
ALIVE = ["pending", "running"]
# An image id for the instances: EKS picks its optimized AMI; moto does not check image ids.
SANDBOX_AMI = "ami-0eec5a1d1b0e0a5a0"
# EKS's taint effects, as Kubernetes spells them.
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

_pending: list[tuple[str, str, str, str, list[dict[str, Any]]]] = []
_synced: dict[tuple[str, str, str], Any] = {}
_queue_lock = threading.Lock()


def state() -> list[Any]:
    """The containers `reset()` clears, for a sandbox snapshot (sandbox/snapshot.py)."""
    return [_pending, _synced]


def reset() -> None:
    with _queue_lock:
        _pending.clear()
        _synced.clear()


def reconcile(account: str, region: str, cluster: Any, security_group_id: str | None) -> None:
    """Make the cluster's node-group instances match its groups; queue the Nodes if changed."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account][region]
    name = cluster.name
    running: dict[str, list[Any]] = {}
    for instance in ec2.all_instances():
        tags = _tags(ec2, instance.id)
        if instance.instance_state.name in ALIVE and tags.get(TAG_CLUSTER) == name:
            running.setdefault(tags.get(TAG_NODEGROUP, ""), []).append(instance)
    for group_name, instances in running.items():
        group = cluster.nodegroups.get(group_name)
        if group is None or group.status not in SERVING:
            ec2.terminate_instances([i.id for i in instances])
    nodes: list[dict[str, Any]] = []
    for group_name, group in sorted(cluster.nodegroups.items()):
        if group.status not in SERVING:
            continue
        have = sorted(running.get(group_name, []), key=lambda i: (str(i.launch_time), i.id))
        want = int((group.scaling_config or {}).get("desiredSize", 0) or 0)
        if len(have) > want:
            ec2.terminate_instances([i.id for i in have[want:]])
            have = have[:want]
        while len(have) < want:
            have.append(_launch(ec2, name, group, len(have), security_group_id))
        nodes += [_node(ec2, region, group, instance) for instance in have]
    key = (account, region, name)
    fingerprint = [(n["metadata"]["name"], n["metadata"]["labels"], n["spec"].get("taints")) for n in nodes]
    with _queue_lock:
        if not fingerprint and key not in _synced:
            return  # no node yet: no Kubernetes API to start for it
        if _synced.get(key) != fingerprint:
            _synced[key] = fingerprint
            _pending.append((account, region, name, str(cluster.version), nodes))


def forget(account: str, region: str, name: str) -> None:
    """The cluster is gone (its Kubernetes API with it)."""
    with _queue_lock:
        _synced.pop((account, region, name), None)


def flush() -> None:
    """Hand queued Node lists to `NODE_SYNC` (call without the EKS lock held)."""
    with _queue_lock:
        jobs = list(_pending)
        _pending.clear()
    sync = NODE_SYNC
    if sync is None:
        return
    for account, region, name, version, nodes in jobs:
        try:
            sync(account, region, name, version, nodes)
        except Exception:  # the EKS answer must not fail because the Kubernetes side did
            log.exception("syncing the nodes of cluster %s failed", name)


def _tags(ec2: Any, resource_id: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [resource_id]})}


def _template_data(ec2: Any, group: Any) -> dict[str, Any]:
    spec = group.launch_template or {}
    ident = spec.get("id") or spec.get("name")
    if not ident:
        return {}
    try:
        template = (
            ec2.get_launch_template(spec["id"]) if spec.get("id") else ec2.get_launch_template_by_name(spec["name"])
        )
    except Exception:  # deleted under the group: launch as without one
        return {}
    version = str(spec.get("version") or "$Default")
    try:
        chosen = (
            template.latest_version()
            if version == "$Latest"
            else template.default_version()
            if version == "$Default"
            else template.get_version(version)
        )
    except Exception:
        chosen = template.default_version()
    return dict(getattr(chosen, "data", {}) or {})


def _launch(ec2: Any, cluster: str, group: Any, index: int, security_group_id: str | None) -> Any:
    data = _template_data(ec2, group)
    subnets = list(group.subnets or [])
    subnet = ec2.get_subnet(subnets[index % len(subnets)])
    instance_type = data.get("InstanceType") or (list(group.instance_types or []) or ["t3.medium"])[0]
    groups = list(data.get("SecurityGroupIds") or ([security_group_id] if security_group_id else []))
    tags = {
        TAG_CLUSTER: cluster,
        TAG_NODEGROUP: group.nodegroup_name,
        f"kubernetes.io/cluster/{cluster}": "owned",
        "Name": f"{cluster}-{group.nodegroup_name}-node",
    }
    reservation = ec2.run_instances(
        data.get("ImageId") or SANDBOX_AMI,
        1,
        None,
        [],
        instance_type=instance_type,
        is_instance_type_default=False,
        subnet_id=subnet.id,
        placement=subnet.availability_zone,
        security_group_ids=groups,
        tags={"instance": tags},
        region_name=ec2.region_name,
    )
    instance = reservation.instances[0]
    log.info(
        "node group %s/%s: launched %s in %s", cluster, group.nodegroup_name, instance.id, subnet.availability_zone
    )
    return instance


def _node(ec2: Any, region: str, group: Any, instance: Any) -> dict[str, Any]:
    zone = instance.availability_zone
    name = instance.private_dns_name
    arch = "arm64" if "ARM" in str(group.ami_type) else "amd64"
    labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": instance.instance_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        LABEL_NODEGROUP: group.nodegroup_name,
        "eks.amazonaws.com/nodegroup-image": instance.image_id,
        "eks.amazonaws.com/capacityType": str(group.capacity_type or "ON_DEMAND"),
        **dict(group.labels or {}),
    }
    taints = [
        {
            "key": t["key"],
            **({"value": t["value"]} if t.get("value") else {}),
            "effect": TAINT_EFFECTS.get(str(t.get("effect")), str(t.get("effect"))),
        }
        for t in group.taints or []
    ]
    launched = str(instance.launch_time or datetime.now(UTC).isoformat()).replace(" ", "T")
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"alpha.kubernetes.io/provided-node-ip": instance.private_ip},
        },
        "spec": {"providerID": f"aws:///{zone}/{instance.id}"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": launched[:19] + "Z",
                    "lastTransitionTime": launched[:19] + "Z",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": instance.private_ip},
                {"type": "InternalDNS", "address": name},
                {"type": "Hostname", "address": name},
            ],
            # Every field a kubelet reports (clients' models require them), derived from the instance.
            "nodeInfo": {
                "architecture": arch,
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023",
                "kernelVersion": "6.1.0-amzn2023",
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": f"v{group.version}.0-eks",
                "kubeProxyVersion": f"v{group.version}.0-eks",
                "machineID": uuid.uuid5(uuid.NAMESPACE_URL, instance.id).hex,
                "systemUUID": "ec2" + str(uuid.uuid5(uuid.NAMESPACE_DNS, instance.id))[3:],
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_OID, instance.id)),
            },
            "capacity": {"pods": "110"},
            "allocatable": {"pods": "110"},
        },
    }
    if taints:
        node["spec"]["taints"] = taints
    return node
