"""Add-on calls: the catalog (DescribeAddonVersions) and
Create/Describe/List/Update/DeleteAddon, with the pod identity associations add-ons own."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.catalog import ADDON_CATALOG, AddonSpec, default_addon_version, version_key
from provisioner.sandbox.eks.exceptions import EksError, addon_not_found, invalid, require
from provisioner.sandbox.eks.iam import check_role_arn
from provisioner.sandbox.eks.lifecycle import new_update, settle, update_param
from provisioner.sandbox.eks.models import Addon, ClusterState, delay, replay, request_fingerprint
from provisioner.sandbox.eks.pod_identities import new_association
from provisioner.sandbox.eks.protocol import Reply, Request, paginate

log = logging.getLogger(__name__)


def describe_addon_versions(req: Request) -> Reply:
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
    page, token = paginate(req, addons)
    return Reply(body={"addons": page, "nextToken": token})


def create_addon(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    require(body, "addonName")
    addon_name = str(body["addonName"])
    if cluster.status in ("CREATING", "DELETING") or state.delete_ready_at is not None:
        raise EksError(
            "InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name, addon=addon_name
        )
    spec = ADDON_CATALOG.get(addon_name)
    if spec is None:
        raise invalid("Addon specified is not supported", cluster=name, addon=addon_name)
    token, fingerprint = body.get("clientRequestToken"), request_fingerprint(body)
    made = replay(state, token, "CreateAddon", fingerprint, lambda n: n in state.addons)
    if made is not None:
        return Reply(body={"addon": state.addons[made].to_json(state)})
    if addon_name in state.addons:
        raise EksError("ResourceInUseException", "Addon already exists.", cluster=name, addon=addon_name)
    version = body.get("addonVersion") or default_addon_version(addon_name, str(cluster.version))
    _check_addon_version(spec, version, str(cluster.version), name)
    _validate_addon_options(body, name, addon_name)
    now = models.clock()
    arn = f"arn:{state.partition}:eks:{req.region}:{req.account}:addon/{name}/{addon_name}/{uuid.uuid4()}"
    pod_identities = _addon_pod_identities(state, spec, body.get("podIdentityAssociations"), name)
    addon = Addon(
        addon_name,
        name,
        str(version),
        arn,
        now,
        now,
        "CREATING",
        now + delay(f"addon:{addon_name}"),
        service_account_role_arn=body.get("serviceAccountRoleArn") or None,
        configuration_values=body.get("configurationValues"),
        tags=dict(body.get("tags") or {}),
        namespace=(body.get("namespaceConfig") or {}).get("namespace"),
    )
    addon.pod_identity_ids = _create_owned_associations(req, state, addon, spec, pod_identities)
    state.addons[addon_name] = addon
    if token:
        state.tokens[str(token)] = ("CreateAddon", fingerprint, addon_name)
    return Reply(body={"addon": addon.to_json(state)})


def describe_addon(req: Request, name: str, addon: str) -> Reply:
    state, _ = req.state(name)
    record = state.addons.get(addon)
    if record is None:
        raise addon_not_found(name, addon)
    return Reply(body={"addon": record.to_json(state)})


def list_addons(req: Request, name: str) -> Reply:
    state, _ = req.state(name)
    page, token = paginate(req, sorted(state.addons))
    return Reply(body={"addons": page, "nextToken": token})


def update_addon(req: Request, name: str, addon: str) -> Reply:
    state, cluster = req.state(name)
    record = state.addons.get(addon)
    if record is None:
        raise addon_not_found(name, addon)
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
        if version_key(version) < version_key(record.version):
            raise invalid(
                f"Updating addon {addon} from {record.version} to the lower version {version} is not supported",
                cluster=name,
                addon=addon,
            )
        params.append(update_param("AddonVersion", version))
    _validate_addon_options(body, name, addon)
    if "serviceAccountRoleArn" in body:
        params.append(update_param("ServiceAccountRoleArn", body["serviceAccountRoleArn"] or ""))
    if body.get("resolveConflicts"):
        params.append(update_param("ResolveConflicts", body["resolveConflicts"]))
    if "configurationValues" in body:
        params.append(update_param("ConfigurationValues", body["configurationValues"] or ""))
    wanted_identities = None
    if body.get("podIdentityAssociations") is not None:
        wanted_identities = _addon_pod_identities(state, spec, body["podIdentityAssociations"], name, owner=record.arn)
        params.append(update_param("PodIdentityAssociations", [p["serviceAccount"] for p in wanted_identities]))

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
        record.modified_at = models.clock()

    update = new_update(state, "AddonUpdate", params, "addon_update", apply, addon=addon)
    record.status, record.ready_at = "UPDATING", update.ready_at
    settle(req.account, req.region)
    return Reply(body={"update": update.to_json()})


def delete_addon(req: Request, name: str, addon: str) -> Reply:
    state, _ = req.state(name)
    record = state.addons.get(addon)
    if record is None:
        raise addon_not_found(name, addon)
    # `preserve` keeps the add-on's Kubernetes objects; nothing runs here, so it changes nothing.
    if record.status != "DELETING":
        record.status, record.ready_at = "DELETING", models.clock() + delay("addon_delete")
        record.modified_at = models.clock()
    reply = {"addon": record.to_json(state)}
    return Reply(body=reply)


def _check_addon_version(spec: AddonSpec, version: Any, cluster_version: str, cluster: str) -> None:
    found = next((v for v in spec.versions if v.version == version), None)
    if found is None or cluster_version not in found.cluster_versions:
        raise invalid("Addon version specified is not supported", cluster=cluster, addon=spec.name)


def _validate_addon_options(body: dict[str, Any], cluster: str, addon: str) -> None:
    if body.get("resolveConflicts") not in (None, "OVERWRITE", "NONE", "PRESERVE"):
        raise invalid(f"Unsupported resolveConflicts: {body['resolveConflicts']}", cluster=cluster, addon=addon)
    role = body.get("serviceAccountRoleArn")
    if role:
        check_role_arn(str(role), cluster, addon)
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
            raise invalid(
                "ConfigurationValue provided in request is not supported: Json schema validation failed with "
                "error: [$: string found, object expected]",
                cluster=cluster,
                addon=addon,
            )


def _addon_pod_identities(
    state: ClusterState, spec: AddonSpec, requested: Any, cluster: str, owner: str | None = None
) -> list[dict[str, str]]:
    """Validate an add-on's podIdentityAssociations: service accounts the add-on uses, one each,
    not already associated by someone other than the add-on."""
    if not requested:
        return []
    seen = set()
    for item in requested:
        service_account, role = item.get("serviceAccount"), item.get("roleArn")
        if service_account not in spec.pod_identity:
            raise invalid(
                f"Service account {service_account} is not supported by addon {spec.name} for pod identity",
                cluster=cluster,
                addon=spec.name,
            )
        if service_account in seen:
            raise invalid(
                f"Duplicate service account {service_account} in podIdentityAssociations",
                cluster=cluster,
                addon=spec.name,
            )
        seen.add(service_account)
        check_role_arn(str(role), cluster, spec.name)
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
    req: Request, state: ClusterState, addon: Addon, spec: AddonSpec, wanted: list[dict[str, str]]
) -> list[str]:
    ids = []
    for item in wanted:
        try:
            association = new_association(
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
