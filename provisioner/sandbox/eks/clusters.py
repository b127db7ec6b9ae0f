"""Cluster calls: Create/Describe/DeleteCluster, UpdateClusterConfig, UpdateClusterVersion,
AssociateEncryptionConfig, DescribeUpdate and ListUpdates."""

from __future__ import annotations

import json
from typing import Any

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.access_entries import bootstrap_access
from provisioner.sandbox.eks.backends import eks_backend
from provisioner.sandbox.eks.catalog import DEFAULT_VERSION, PLATFORM_VERSIONS, SUPPORTED_VERSIONS, minor_version
from provisioner.sandbox.eks.cluster_config import (
    access_config_update,
    complete_cluster,
    endpoint_update,
    logging_update,
    subnet_zones,
    upgrade_policy_update,
    validate_create_cluster,
    validate_encryption_config,
    vpc_update,
)
from provisioner.sandbox.eks.exceptions import EksError, addon_not_found, invalid, nodegroup_not_found, require
from provisioner.sandbox.eks.lifecycle import new_update, settle, update_param
from provisioner.sandbox.eks.models import ClusterState, Update, cluster_states, delay
from provisioner.sandbox.eks.protocol import Reply, Request, json_of, paginate


def create_cluster(req: Request) -> Reply:
    body = req.json()
    name = body.get("name") or ""
    backend = eks_backend(req.account, req.region)
    if name in backend.clusters:
        return Reply(raw=req.moto())  # moto answers ResourceInUseException like EKS
    vpc_id, access_config, upgrade_policy = validate_create_cluster(req, body)
    if not body.get("version"):
        body["version"] = DEFAULT_VERSION
    raw = req.moto(body=json.dumps(body).encode())
    if json_of(raw) is None:
        return Reply(raw=raw)
    cluster = backend.clusters[name]
    state = ClusterState(
        req.account,
        req.region,
        name,
        cluster,
        req.caller(),
        access_config,
        zones=subnet_zones(req, (body.get("resourcesVpcConfig") or {}).get("subnetIds") or []),
    )
    cluster_states[(req.account, req.region, name)] = state
    cluster.upgrade_policy = upgrade_policy
    complete_cluster(state, cluster, body, vpc_id)
    if delay("cluster_create") > 0:
        cluster.status = "CREATING"
        state.create_ready_at = models.clock() + delay("cluster_create")
    bootstrap_access(state, cluster)
    described = req.moto_describe(f"/clusters/{name}", "cluster")
    described["cluster"]["status"] = "CREATING"  # what CreateCluster always answers
    return Reply(body=described, endpoint_for=name)


def describe_cluster(req: Request, name: str) -> Reply:
    req.state(name)  # EKS's extra fields for clusters moto made on its own
    raw = req.moto()
    body = json_of(raw)
    if body is None:
        return Reply(raw=raw)
    return Reply(body=body, endpoint_for=name)


def delete_cluster(req: Request, name: str) -> Reply:
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
    described = req.moto_describe(f"/clusters/{name}", "cluster")
    described["cluster"]["status"] = "DELETING"
    # Add-ons, access entries and pod identity associations go with the cluster.
    state.addons.clear()
    state.entries.clear()
    state.associations.clear()
    state.updates.clear()
    cluster.status = "DELETING"
    state.create_ready_at = None
    state.delete_ready_at = models.clock() + delay("cluster_delete")
    return Reply(body=described)


def update_cluster_config(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    require_active(state, cluster)
    kinds = [
        key for key in ("resourcesVpcConfig", "logging", "accessConfig", "upgradePolicy") if body.get(key) is not None
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
        raise invalid(f"The sandbox does not simulate updating {', '.join(unsupported)}", cluster=name)
    vpc_request = body.get("resourcesVpcConfig") or {}
    endpoint_keys = {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}
    network_keys = {"subnetIds", "securityGroupIds"}
    if vpc_request and set(vpc_request) & endpoint_keys and set(vpc_request) & network_keys:
        kinds.append("resourcesVpcConfig")  # endpoint access and VPC changes are two kinds
    if len(kinds) > 1:
        raise invalid("Only one type of update can be allowed.", cluster=name)
    if not kinds:
        raise invalid("No changes were specified in the update request.", cluster=name)
    if state.in_progress():
        raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)

    kind = kinds[0]
    if kind == "resourcesVpcConfig" and set(vpc_request) & endpoint_keys:
        update = endpoint_update(state, cluster, vpc_request)
    elif kind == "resourcesVpcConfig":
        update = vpc_update(req, state, cluster, vpc_request)
    elif kind == "logging":
        update = logging_update(state, cluster, body["logging"])
    elif kind == "accessConfig":
        update = access_config_update(state, cluster, body["accessConfig"])
    else:
        update = upgrade_policy_update(state, cluster, body["upgradePolicy"])
    return _started_cluster_update(req, state, cluster, update)


def _started_cluster_update(req: Request, state: ClusterState, cluster: Any, update: Update) -> Reply:
    if cluster.status == "ACTIVE":
        cluster.status = "UPDATING"
    settle(req.account, req.region)
    return Reply(body={"update": update.to_json()})


def update_cluster_version(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    require(body, "version")
    require_active(state, cluster)
    if state.in_progress():
        raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)
    target, current = str(body["version"]), str(cluster.version)
    target_minor, current_minor = minor_version(target), minor_version(current)
    # Kubernetes, and so EKS, upgrades the control plane one minor version at a time.
    if target_minor is None or current_minor is None or target_minor != (current_minor[0], current_minor[1] + 1):
        raise invalid(f"Unsupported Kubernetes minor version update from {current} to {target}", cluster=name)
    if target not in SUPPORTED_VERSIONS:
        raise invalid("unsupported Kubernetes version", cluster=name)
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

    update = new_update(
        state,
        "VersionUpdate",
        [update_param("Version", target), update_param("PlatformVersion", PLATFORM_VERSIONS.get(target, "eks.1"))],
        "cluster_version_update",
        apply,
    )
    return _started_cluster_update(req, state, cluster, update)


def associate_encryption_config(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    require(body, "encryptionConfig")
    require_active(state, cluster)
    if cluster.encryption_config:
        raise invalid("Encryption is already enabled on the cluster", cluster=name)
    if state.in_progress():
        raise EksError("ResourceInUseException", f"Cluster {name} has an update in progress.", cluster=name)
    config = validate_encryption_config(req, body["encryptionConfig"])

    def apply() -> None:
        cluster.encryption_config = config

    update = new_update(
        state,
        "AssociateEncryptionConfig",
        [update_param("EncryptionConfig", config)],
        "cluster_encryption_update",
        apply,
    )
    return _started_cluster_update(req, state, cluster, update)


def describe_update(req: Request, name: str, update_id: str) -> Reply:
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
    return Reply(body={"update": update.to_json()})


def list_updates(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    nodegroup, addon = req.q("nodegroupName"), req.q("addonName")
    _check_update_scope(state, cluster, nodegroup, addon)
    ids = [u.id for u in state.updates.values() if u.nodegroup == nodegroup and u.addon == addon]
    page, token = paginate(req, ids)
    return Reply(body={"updateIds": page, "nextToken": token})


def require_active(state: ClusterState, cluster: Any) -> None:
    if cluster.status in ("CREATING", "DELETING", "FAILED") or state.delete_ready_at is not None:
        raise EksError(
            "ResourceInUseException",
            f"Cluster {state.name} is in {cluster.status} state and cannot be updated.",
            cluster=state.name,
        )


def _check_update_scope(state: ClusterState, cluster: Any, nodegroup: str | None, addon: str | None) -> None:
    if nodegroup is not None and nodegroup not in cluster.nodegroups:
        raise nodegroup_not_found(state.name, nodegroup)
    if addon is not None and addon not in state.addons:
        raise addon_not_found(state.name, addon)
