"""Transitions over time: a cluster's state made on first sight, updates that complete,
clusters, node groups and add-ons that settle from CREATING/UPDATING/DELETING once their
`ready_at` has passed, and the hooks run once a cluster is gone."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from provisioner.sandbox import eks_nodes
from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.backends import ec2_backend, eks_backend
from provisioner.sandbox.eks.exceptions import cluster_not_found
from provisioner.sandbox.eks.models import ClusterState, Update, cluster_states, delay, deleted_clusters, lock

log = logging.getLogger(__name__)


def cluster_state(account: str, region: str, name: str, caller: Callable[[], str]) -> tuple[ClusterState, Any]:
    """The cluster's extension state, made on first sight (a cluster created in moto's backend
    directly gets EKS's defaults). Raises ResourceNotFoundException if moto has no cluster."""
    cluster = eks_backend(account, region).clusters.get(name)
    if cluster is None:
        cluster_states.pop((account, region, name), None)
        raise cluster_not_found(name)
    state = cluster_states.get((account, region, name))
    if state is None or state.obj is not cluster:
        state = ClusterState(
            account,
            region,
            name,
            cluster,
            caller(),
            {"bootstrapClusterCreatorAdminPermissions": True, "authenticationMode": "API_AND_CONFIG_MAP"},
        )
        cluster_states[(account, region, name)] = state
        sync_cluster_object(state)
    return state, cluster


def sync_cluster_object(state: ClusterState) -> None:
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


def settle(account: str, region: str) -> None:
    """Apply every transition that is due in this account and region (call with the lock held;
    finished cluster deletions are queued in `deleted_clusters` for their hooks)."""
    now = models.clock()
    for key, state in list(cluster_states.items()):
        if key[0] != account or key[1] != region:
            continue
        cluster = eks_backend(account, region).clusters.get(state.name)
        if cluster is None or cluster is not state.obj:
            del cluster_states[key]
            continue
        _settle_cluster(state, cluster, now)
        if state.delete_ready_at is not None and now >= state.delete_ready_at:
            _finish_cluster_delete(state)
            deleted_clusters.append(key)


def _settle_cluster(state: ClusterState, cluster: Any, now: float) -> None:
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


def _drop_nodegroup(state: ClusterState, cluster: Any, name: str) -> None:
    if cluster.nodegroups.pop(name, None) is not None:
        cluster.nodegroup_count -= 1
    for update_id in [u.id for u in state.updates.values() if u.nodegroup == name]:
        del state.updates[update_id]


def _finish_cluster_delete(state: ClusterState) -> None:
    """The cluster is gone: from moto, with its security group and everything EKS kept for it."""
    backend = eks_backend(state.account, state.region)
    if backend.clusters.get(state.name) is state.obj:
        del backend.clusters[state.name]
        backend.cluster_count -= 1
    if state.security_group_id:
        try:
            ec2_backend(state.account, state.region).delete_security_group(group_id=state.security_group_id)
        except Exception:  # already deleted by hand
            log.debug("cluster security group %s already gone", state.security_group_id)
    cluster_states.pop((state.account, state.region, state.name), None)
    eks_nodes.forget(state.account, state.region, state.name)


def notify_deleted() -> None:
    with lock:
        gone = list(deleted_clusters)
        deleted_clusters.clear()
    for account, region, name in gone:
        for hook in list(models.CLUSTER_DELETED_HOOKS):
            try:
                hook(account, region, name)
            except Exception:
                log.exception("on_cluster_deleted hook %r failed for %s", hook, name)


def new_update(
    state: ClusterState,
    type_: str,
    params: list[dict[str, str]],
    kind: str,
    apply: Callable[[], None] | None,
    *,
    nodegroup: str | None = None,
    addon: str | None = None,
) -> Update:
    now = models.clock()
    update = Update(str(uuid.uuid4()), type_, params, now, now + delay(kind), nodegroup, addon, apply)
    state.updates[update.id] = update
    return update


def update_param(type_: str, value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    return {"type": type_, "value": text}
