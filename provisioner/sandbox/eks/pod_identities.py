"""Pod Identity associations: Create/Describe/List/Update/DeletePodIdentityAssociation."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.exceptions import EksError, invalid, require
from provisioner.sandbox.eks.iam import arn_account, check_role_arn, find_role, propagated
from provisioner.sandbox.eks.models import ClusterState, PodIdentity, replay, request_fingerprint
from provisioner.sandbox.eks.protocol import Reply, Request, paginate


def create_pod_identity_association(req: Request, name: str) -> Reply:
    state, cluster = req.state(name)
    body = req.json()
    require(body, "namespace", "serviceAccount", "roleArn")
    if cluster.status in ("CREATING", "DELETING"):
        raise EksError("InvalidRequestException", f"Cluster '{name}' is not in ACTIVE status", cluster=name)
    token, fingerprint = body.get("clientRequestToken"), request_fingerprint(body)
    made = replay(state, token, "CreatePodIdentityAssociation", fingerprint, lambda i: i in state.associations)
    if made is not None:
        return Reply(body={"association": state.associations[made].to_json()})
    role_arn = str(body["roleArn"])
    check_role_arn(role_arn, name)
    if arn_account(role_arn) == state.account:
        role = find_role(state.account, state.region, role_arn)
        if role is None or not propagated(role):
            # EKS's answer for a role IAM does not have, or has not propagated yet.
            raise invalid(f"Role provided in the request does not exist: {role_arn}", cluster=name)
    association = new_association(
        req, state, str(body["namespace"]), str(body["serviceAccount"]), role_arn, body.get("tags"), None, body
    )
    if token:
        state.tokens[str(token)] = ("CreatePodIdentityAssociation", fingerprint, association.id)
    return Reply(body={"association": association.to_json()})


def describe_pod_identity_association(req: Request, name: str, association_id: str) -> Reply:
    state, _ = req.state(name)
    return Reply(body={"association": _association(state, association_id).to_json()})


def list_pod_identity_associations(req: Request, name: str) -> Reply:
    state, _ = req.state(name)
    namespace, service_account = req.q("namespace"), req.q("serviceAccount")
    found = [
        a.summary()
        for a in sorted(state.associations.values(), key=lambda a: (a.created_at, a.id))
        if (namespace is None or a.namespace == namespace)
        and (service_account is None or a.service_account == service_account)
    ]
    page, token = paginate(req, found)
    return Reply(body={"associations": page, "nextToken": token})


def update_pod_identity_association(req: Request, name: str, association_id: str) -> Reply:
    state, _ = req.state(name)
    association = _association(state, association_id)
    body = req.json()
    if body.get("roleArn"):
        check_role_arn(str(body["roleArn"]), name)
        association.role_arn = str(body["roleArn"])
    if "targetRoleArn" in body:
        if body["targetRoleArn"]:
            check_role_arn(str(body["targetRoleArn"]), name)
        association.target_role_arn = body["targetRoleArn"] or None
        association.external_id = str(uuid.uuid4()) if association.target_role_arn else None
    if body.get("disableSessionTags") is not None:
        association.disable_session_tags = bool(body["disableSessionTags"])
    if "policy" in body:
        association.policy = body["policy"] or None
    association.modified_at = models.clock()
    return Reply(body={"association": association.to_json()})


def delete_pod_identity_association(req: Request, name: str, association_id: str) -> Reply:
    state, _ = req.state(name)
    association = _association(state, association_id)
    del state.associations[association_id]
    for addon in state.addons.values():
        if association_id in addon.pod_identity_ids:
            addon.pod_identity_ids.remove(association_id)
    return Reply(body={"association": association.to_json()})


def _association(state: ClusterState, association_id: str) -> PodIdentity:
    association = state.associations.get(association_id)
    if association is None:
        raise EksError("ResourceNotFoundException", f"Association {association_id} not found", cluster=state.name)
    return association


def new_association(
    req: Request,
    state: ClusterState,
    namespace: str,
    service_account: str,
    role_arn: str,
    tags: Any,
    owner_arn: str | None,
    body: dict[str, Any],
) -> PodIdentity:
    cluster = state.name
    check_role_arn(role_arn, cluster)
    if body.get("targetRoleArn"):
        check_role_arn(str(body["targetRoleArn"]), cluster)
    for existing in state.associations.values():
        if existing.namespace == namespace and existing.service_account == service_account:
            raise EksError("ResourceInUseException", f"Association already exists: {existing.id}", cluster=cluster)
    alphabet = string.ascii_lowercase + string.digits
    association_id = "a-" + "".join(random.choices(alphabet, k=17))
    now = models.clock()
    association = PodIdentity(
        association_id,
        f"arn:{state.partition}:eks:{req.region}:{req.account}:podidentityassociation/{cluster}/{association_id}",
        cluster,
        namespace,
        service_account,
        role_arn,
        now,
        now,
        dict(tags or {}),
        owner_arn,
        bool(body["disableSessionTags"]) if body.get("disableSessionTags") is not None else None,
        body.get("targetRoleArn") or None,
        str(uuid.uuid4()) if body.get("targetRoleArn") else None,
        body.get("policy") or None,
    )
    state.associations[association_id] = association
    return association
