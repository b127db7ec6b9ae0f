"""Managed node group calls (create, delete, update config and version) with their checks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.access_entries import ensure_node_entry
from provisioner.sandbox.eks.backends import partition_of
from provisioner.sandbox.eks.catalog import (
    NODE_RELEASE_VERSIONS,
    NODE_ROLE_ECR_POLICIES,
    NODE_ROLE_POLICIES,
    minor_version,
)
from provisioner.sandbox.eks.cluster_config import check_subnets
from provisioner.sandbox.eks.exceptions import EksError, invalid, nodegroup_not_found, require
from provisioner.sandbox.eks.iam import find_role, trusts
from provisioner.sandbox.eks.lifecycle import new_update, settle, update_param
from provisioner.sandbox.eks.models import ClusterState, delay
from provisioner.sandbox.eks.protocol import Reply, Request, json_of


def utcnow() -> datetime:
    """For moto's node group timestamps, which are datetimes."""
    return datetime.now(UTC)


def create_nodegroup(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    nodegroup_name = body.get("nodegroupName") or ""
    if nodegroup_name in cluster.nodegroups:
        return Reply(raw=req.moto())  # moto answers ResourceInUseException like EKS
    _validate_nodegroup(req, state, cluster, body)
    # EKS's defaults: the cluster's Kubernetes version, its latest AMI release, and AL2023
    # (EKS has no AL2 AMIs for 1.33 and later).
    body.setdefault("version", cluster.version)
    body.setdefault("releaseVersion", NODE_RELEASE_VERSIONS.get(body["version"], f"{body['version']}.0-20251120"))
    if not body.get("amiType") and not (body.get("launchTemplate") or {}).get("imageId"):
        body["amiType"] = "AL2023_x86_64_STANDARD"
    raw = req.moto(body=json.dumps(body).encode())
    if json_of(raw) is None:
        return Reply(raw=raw)
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
    if delay("nodegroup_create") > 0:
        nodegroup.status = "CREATING"
        state.nodegroup_timers[nodegroup_name] = ("CREATING", models.clock() + delay("nodegroup_create"))
    entry_type = "EC2_WINDOWS" if "WINDOWS" in str(nodegroup.ami_type) else "EC2_LINUX"
    ensure_node_entry(state, cluster, nodegroup.node_role, entry_type)
    described = req.moto_describe(f"/clusters/{name}/node-groups/{nodegroup_name}", "nodegroup")
    described["nodegroup"]["status"] = "CREATING"
    return Reply(body=described)


def delete_nodegroup(req: Request, name: str, nodegroup: str) -> Reply:
    state, cluster = req.state(name)
    group = cluster.nodegroups.get(nodegroup)
    if group is None:
        raise nodegroup_not_found(name, nodegroup)
    if group.status == "DELETING":
        raise EksError(
            "ResourceInUseException",
            f"Nodegroup {nodegroup} is already being deleted.",
            cluster=name,
            nodegroup=nodegroup,
        )
    described = req.moto_describe(f"/clusters/{name}/node-groups/{nodegroup}", "nodegroup")
    described["nodegroup"]["status"] = "DELETING"
    group.status = "DELETING"
    state.nodegroup_timers[nodegroup] = ("DELETING", models.clock() + delay("nodegroup_delete"))
    settle(req.account, req.region)
    return Reply(body=described)


def update_nodegroup_config(req: Request, name: str, nodegroup: str) -> Reply:
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
        params.append(update_param("LabelsToAdd", labels["addOrUpdateLabels"]))
    if labels.get("removeLabels"):
        params.append(update_param("LabelsToRemove", labels["removeLabels"]))
    if taints.get("addOrUpdateTaints"):
        params.append(update_param("TaintsToAdd", taints["addOrUpdateTaints"]))
    if taints.get("removeTaints"):
        params.append(update_param("TaintsToRemove", taints["removeTaints"]))
    for key, param in (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize")):
        if key in scaling:
            params.append(update_param(param, str(scaling[key])))
    if update_config:
        for key, param in (
            ("maxUnavailable", "MaxUnavailable"),
            ("maxUnavailablePercentage", "MaxUnavailablePercentage"),
            ("updateStrategy", "UpdateStrategy"),
        ):
            if key in update_config:
                params.append(update_param(param, str(update_config[key])))
    if repair and "enabled" in repair:
        params.append(update_param("NodeRepairEnabled", bool(repair["enabled"])))
    if not params:
        raise invalid("No changes were specified in the update request.", cluster=name, nodegroup=nodegroup)
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
        group.modified_at = utcnow()

    update = new_update(state, "ConfigUpdate", params, "nodegroup_update", apply, nodegroup=nodegroup)
    group.status = "UPDATING"
    settle(req.account, req.region)
    return Reply(body={"update": update.to_json()})


def update_nodegroup_version(req: Request, name: str, nodegroup: str) -> Reply:
    state, cluster = req.state(name)
    group = _active_nodegroup(state, cluster, nodegroup)
    body = req.json()
    target = str(body.get("version") or cluster.version)
    target_minor, cluster_minor, current_minor = (
        minor_version(target),
        minor_version(str(cluster.version)),
        minor_version(str(group.version)),
    )
    if target_minor is None or (cluster_minor and target_minor > cluster_minor):
        raise invalid(
            f"Requested Nodegroup Kubernetes version {target} must not be later than the cluster "
            f"version {cluster.version}",
            cluster=name,
            nodegroup=nodegroup,
        )
    if current_minor and target_minor < current_minor:
        raise invalid(
            f"Nodegroup Kubernetes version cannot be downgraded from {group.version} to {target}",
            cluster=name,
            nodegroup=nodegroup,
        )
    release = str(body.get("releaseVersion") or NODE_RELEASE_VERSIONS.get(target, f"{target}.0-20251120"))
    if not release.startswith(f"{target}."):
        raise invalid(
            f"Release version {release} is not valid for Kubernetes version {target}",
            cluster=name,
            nodegroup=nodegroup,
        )
    launch_template = body.get("launchTemplate")
    params = [update_param("Version", target), update_param("ReleaseVersion", release)]
    if launch_template:
        for key, param in (("name", "LaunchTemplateName"), ("version", "LaunchTemplateVersion")):
            if launch_template.get(key):
                params.append(update_param(param, launch_template[key]))

    def apply() -> None:
        group.version = target
        group.release_version = release
        if launch_template:
            group.launch_template = {**(group.launch_template or {}), **launch_template}
        group.modified_at = utcnow()

    update = new_update(state, "VersionUpdate", params, "nodegroup_update", apply, nodegroup=nodegroup)
    group.status = "UPDATING"
    settle(req.account, req.region)
    return Reply(body={"update": update.to_json()})


def _active_nodegroup(state: ClusterState, cluster: Any, nodegroup: str) -> Any:
    group = cluster.nodegroups.get(nodegroup)
    if group is None:
        raise nodegroup_not_found(state.name, nodegroup)
    if group.status != "ACTIVE" or state.in_progress(nodegroup=nodegroup):
        raise EksError(
            "ResourceInUseException",
            f"Nodegroup {nodegroup} is in {group.status} state and cannot be updated.",
            cluster=state.name,
            nodegroup=nodegroup,
        )
    return group


def _validate_nodegroup(req: Request, state: ClusterState, cluster: Any, body: dict[str, Any]) -> None:
    name = state.name
    nodegroup = str(body.get("nodegroupName") or "")
    require(body, "nodegroupName", "subnets", "nodeRole")
    if cluster.status != "ACTIVE":
        raise EksError(
            "InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name, nodegroup=nodegroup
        )
    version = body.get("version")
    wanted, cluster_minor = minor_version(str(version)) if version else None, minor_version(str(cluster.version))
    if version and (wanted is None or (cluster_minor is not None and wanted > cluster_minor)):
        raise invalid(
            f"Requested Nodegroup Kubernetes version {version} must not be later than the cluster version "
            f"{cluster.version}",
            cluster=name,
            nodegroup=nodegroup,
        )
    check_subnets(req, body["subnets"], name, two_azs=False)
    role_arn = str(body["nodeRole"])
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/.+", role_arn)
    if match is None:
        raise invalid(f"Invalid Role Arn: '{role_arn}'", cluster=name, nodegroup=nodegroup)
    if match.group(1) == req.account:
        role = find_role(req.account, req.region, role_arn)
        if role is None:
            raise invalid(f"Role with arn: {role_arn} does not exist", cluster=name, nodegroup=nodegroup)
        if not trusts(role, "ec2.amazonaws.com"):
            raise invalid(
                f"Following required service principals [ec2.amazonaws.com] were not found in the trust "
                f"relationships of nodeRole {role_arn}",
                cluster=name,
                nodegroup=nodegroup,
            )
        attached = {arn.rsplit("/", 1)[-1] for arn in role.managed_policies}
        if not set(NODE_ROLE_POLICIES) <= attached or not attached & set(NODE_ROLE_ECR_POLICIES):
            partition = partition_of(req.region)
            required = ", ".join(
                f"arn:{partition}:iam::aws:policy/{p}" for p in (*NODE_ROLE_POLICIES, NODE_ROLE_ECR_POLICIES[0])
            )
            raise invalid(
                "The provided role doesn't have the Amazon EKS Managed Policies associated with it. Please ensure "
                f"the following policies [{required}] are attached",
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
        raise invalid("Maximum capacity must be at least 1", cluster=cluster, nodegroup=nodegroup)
    if low > high:
        raise invalid(
            f"Minimum capacity {low} can't be greater than max size {high}", cluster=cluster, nodegroup=nodegroup
        )
    if desired > high:
        raise invalid(
            f"Desired capacity {desired} can't be greater than max size {high}", cluster=cluster, nodegroup=nodegroup
        )
    if desired < low:
        raise invalid(
            f"Minimum capacity {low} can't be greater than desired size {desired}", cluster=cluster, nodegroup=nodegroup
        )
