"""Access entries and access policies: the calls, and the entries EKS makes itself (the
cluster creator and node roles)."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.backends import partition_of
from provisioner.sandbox.eks.catalog import (
    ACCESS_ENTRY_TYPES,
    ACCESS_POLICY_NAMES,
    CLUSTER_ADMIN_POLICY,
    access_policy_arn,
)
from provisioner.sandbox.eks.exceptions import EksError, entry_not_found, invalid, require
from provisioner.sandbox.eks.iam import MOTO_DEFAULT_IDENTITY, find_role, principal_exists, propagated
from provisioner.sandbox.eks.models import (
    AccessEntry,
    AccessPolicyAssociation,
    ClusterState,
    replay,
    request_fingerprint,
)
from provisioner.sandbox.eks.protocol import Reply, Request, paginate

log = logging.getLogger(__name__)


def _access_state(req: Request, name: str) -> tuple[ClusterState, Any]:
    state, cluster = req.state(name)
    if state.access_config.get("authenticationMode") == "CONFIG_MAP":
        raise EksError(
            "InvalidRequestException",
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
            cluster=name,
        )
    bootstrap_access(state, cluster)
    return state, cluster


def list_access_policies(req: Request) -> Reply:
    partition = partition_of(req.region)
    policies = [{"name": n, "arn": access_policy_arn(partition, n)} for n in ACCESS_POLICY_NAMES]
    page, token = paginate(req, policies)
    return Reply(body={"accessPolicies": page, "nextToken": token})


def create_access_entry(req: Request, name: str) -> Reply:
    state, _cluster = _access_state(req, name)
    body = req.json()
    require(body, "principalArn")
    token, fingerprint = body.get("clientRequestToken"), request_fingerprint(body)
    made = replay(state, token, "CreateAccessEntry", fingerprint, lambda principal: principal in state.entries)
    if made is not None:
        return Reply(body={"accessEntry": state.entries[made].to_json()})
    principal = str(body["principalArn"])
    role = find_role(state.account, state.region, principal) if ":role/" in principal else None
    if role is not None and not propagated(role):
        # What EKS answers until IAM has propagated a new role (it looks like a wrong ARN).
        raise invalid("The specified principalArn is invalid: invalid principal.", cluster=name)
    entry = new_access_entry(
        state,
        principal,
        str(body.get("type") or "STANDARD"),
        body.get("username"),
        body.get("kubernetesGroups"),
        body.get("tags"),
    )
    if token:
        state.tokens[str(token)] = ("CreateAccessEntry", fingerprint, principal)
    return Reply(body={"accessEntry": entry.to_json()})


def describe_access_entry(req: Request, name: str, principal: str) -> Reply:
    state, _ = _access_state(req, name)
    return Reply(body={"accessEntry": _entry(state, principal).to_json()})


def list_access_entries(req: Request, name: str) -> Reply:
    state, _ = _access_state(req, name)
    policy = req.q("associatedPolicyArn")
    arns = sorted(arn for arn, entry in state.entries.items() if policy is None or policy in entry.policies)
    page, token = paginate(req, arns)
    return Reply(body={"accessEntries": page, "nextToken": token})


def update_access_entry(req: Request, name: str, principal: str) -> Reply:
    state, _ = _access_state(req, name)
    entry = _entry(state, principal)
    body = req.json()
    if entry.type != "STANDARD":
        raise invalid('This operation can only be performed on Access Entries with a type of "STANDARD".', cluster=name)
    if body.get("username") is not None:
        _check_username(str(body["username"]), name)
        entry.username = str(body["username"])
    if body.get("kubernetesGroups") is not None:
        entry.kubernetes_groups = _check_groups(body["kubernetesGroups"], name)
    entry.modified_at = models.clock()
    return Reply(body={"accessEntry": entry.to_json()})


def delete_access_entry(req: Request, name: str, principal: str) -> Reply:
    state, _ = _access_state(req, name)
    _entry(state, principal)
    del state.entries[principal]  # its policy associations go with it
    return Reply(body={})


def associate_access_policy(req: Request, name: str, principal: str) -> Reply:
    state, _ = _access_state(req, name)
    entry = _entry(state, principal)
    body = req.json()
    require(body, "policyArn", "accessScope")
    if entry.type != "STANDARD":
        raise invalid('This operation can only be performed on Access Entries with a type of "STANDARD".', cluster=name)
    policy_arn = str(body["policyArn"])
    if policy_arn not in {access_policy_arn(state.partition, n) for n in ACCESS_POLICY_NAMES}:
        raise invalid(f"The specified policyArn is invalid: {policy_arn}", cluster=name)
    scope = _check_scope(body["accessScope"], name)
    now = models.clock()
    existing = entry.policies.get(policy_arn)
    if existing is not None:  # associating again replaces the scope
        existing.scope, existing.modified_at = scope, now
    else:
        existing = entry.policies[policy_arn] = AccessPolicyAssociation(policy_arn, scope, now, now)
    return Reply(body={"clusterName": name, "principalArn": principal, "associatedAccessPolicy": existing.to_json()})


def list_associated_access_policies(req: Request, name: str, principal: str) -> Reply:
    state, _ = _access_state(req, name)
    entry = _entry(state, principal)
    page, token = paginate(req, [p.to_json() for p in sorted(entry.policies.values(), key=lambda p: p.policy_arn)])
    return Reply(
        body={"clusterName": name, "principalArn": principal, "associatedAccessPolicies": page, "nextToken": token}
    )


def disassociate_access_policy(req: Request, name: str, principal: str, policy: str) -> Reply:
    state, _ = _access_state(req, name)
    entry = _entry(state, principal)
    if entry.policies.pop(policy, None) is None:
        raise EksError(
            "ResourceNotFoundException",
            f"The specified policy {policy} is not associated with the access entry.",
            cluster=name,
        )
    entry.modified_at = models.clock()
    return Reply(body={})


_PRINCIPAL = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(?:(role|user)/(.+)|(root))")


def _entry(state: ClusterState, principal: str) -> AccessEntry:
    entry = state.entries.get(principal)
    if entry is None:
        raise entry_not_found(state.name)
    return entry


def _check_username(username: str, cluster: str) -> None:
    for prefix in ("system:", "eks:", "aws:", "amazon:", "iam:"):
        if username.startswith(prefix):
            raise invalid(f"The username {username} is invalid: it cannot start with {prefix}", cluster=cluster)


def _check_groups(groups: Any, cluster: str) -> list[str]:
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise invalid("kubernetesGroups must be a list of names", cluster=cluster)
    return list(dict.fromkeys(groups))


def new_access_entry(
    state: ClusterState,
    principal: str,
    entry_type: str,
    username: Any,
    groups: Any,
    tags: Any,
    *,
    system: bool = False,
) -> AccessEntry:
    """Create an access entry as CreateAccessEntry does (`system` entries are the ones EKS makes
    itself, e.g. for node roles, and skip the caller-facing username/group rules)."""
    cluster = state.name
    stand_in = MOTO_DEFAULT_IDENTITY.fullmatch(principal) is not None
    match = _PRINCIPAL.fullmatch(principal.replace(":sts::", ":iam::", 1) if stand_in else principal)
    bad_principal = invalid("The specified principalArn is invalid: invalid principal.", cluster=cluster)
    if match is None or "/aws-service-role/" in principal:
        raise bad_principal  # includes STS session ARNs and service-linked roles
    principal_account = match.group(2)
    kind = "root" if match.group(5) else match.group(3)
    if entry_type not in ACCESS_ENTRY_TYPES:
        raise invalid(
            f"The type {entry_type} is invalid; valid types are {', '.join(ACCESS_ENTRY_TYPES)}", cluster=cluster
        )
    if entry_type != "STANDARD":
        # Node entries: an IAM role of the cluster's account, no username or groups of your own.
        if kind != "role" or principal_account != state.account:
            raise bad_principal
        if (username or groups) and not system:
            raise invalid(
                f"kubernetesGroups and username cannot be specified for access entries of type {entry_type}",
                cluster=cluster,
            )
    if (
        not system
        and not stand_in
        and principal_account == state.account
        and not principal_exists(state.account, state.region, principal)
    ):
        raise bad_principal
    if principal in state.entries:
        raise EksError(
            "ResourceInUseException",
            "The specified access entry resource is already in use on this cluster.",
            cluster=cluster,
        )
    if entry_type == "STANDARD":
        if username is not None:
            _check_username(str(username), cluster)
        groups = _check_groups(groups, cluster) if groups is not None else []
    # The username EKS generates when none is given.
    if entry_type in ("EC2_LINUX", "EC2_WINDOWS", "EC2"):
        username, groups = "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]
    elif entry_type in ("FARGATE_LINUX", "HYBRID_LINUX"):
        username, groups = "system:node:{{SessionName}}", ["system:node-proxier", "system:nodes"]
    elif username is None:
        if kind == "role":
            role_name = match.group(4).rsplit("/", 1)[-1]  # EKS drops the role's path
            username = f"arn:{match.group(1)}:sts::{principal_account}:assumed-role/{role_name}/{{{{SessionName}}}}"
        else:
            username = principal
    name_part = (
        f"{kind}/{principal_account}/{match.group(4).rsplit('/', 1)[-1]}"
        if kind != "root"
        else f"root/{principal_account}"
    )
    now = models.clock()
    entry = AccessEntry(
        cluster,
        principal,
        f"arn:{state.partition}:eks:{state.region}:{state.account}:access-entry/{cluster}/{name_part}/{uuid.uuid4()}",
        entry_type,
        str(username),
        list(groups or []),
        now,
        now,
        dict(tags or {}),
    )
    state.entries[principal] = entry
    return entry


def _check_scope(scope: Any, cluster: str) -> dict[str, Any]:
    if not isinstance(scope, dict) or scope.get("type") not in ("cluster", "namespace"):
        raise invalid("accessScope.type must be cluster or namespace", cluster=cluster)
    namespaces = scope.get("namespaces") or []
    if scope["type"] == "cluster":
        if namespaces:
            raise invalid("namespaces cannot be specified with an accessScope of type cluster", cluster=cluster)
        return {"type": "cluster", "namespaces": []}
    if not namespaces:
        raise invalid("At least one namespace must be specified with an accessScope of type namespace", cluster=cluster)
    for namespace in namespaces:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\*?|\*", str(namespace)) or len(str(namespace)) > 63:
            raise invalid(f"Invalid namespace {namespace}", cluster=cluster)
    return {"type": "namespace", "namespaces": list(dict.fromkeys(str(n) for n in namespaces))}


def bootstrap_access(state: ClusterState, cluster: Any) -> None:
    """The entries EKS makes itself once the cluster accepts access entries: the creator's
    (with cluster admin) if bootstrapClusterCreatorAdminPermissions, and one per managed node
    group role."""
    if state.bootstrapped or state.access_config.get("authenticationMode") == "CONFIG_MAP":
        return
    state.bootstrapped = True
    if (
        state.access_config.get("bootstrapClusterCreatorAdminPermissions", True)
        and state.creator_arn not in state.entries
    ):
        try:
            entry = new_access_entry(state, state.creator_arn, "STANDARD", None, None, None, system=True)
        except EksError:
            log.warning("sandbox: cannot make the creator access entry for %s (%s)", state.name, state.creator_arn)
        else:
            policy = access_policy_arn(state.partition, CLUSTER_ADMIN_POLICY)
            entry.policies[policy] = AccessPolicyAssociation(
                policy, {"type": "cluster", "namespaces": []}, entry.created_at, entry.created_at
            )
    for nodegroup in cluster.nodegroups.values():
        ensure_node_entry(
            state, cluster, nodegroup.node_role, "EC2_WINDOWS" if "WINDOWS" in str(nodegroup.ami_type) else "EC2_LINUX"
        )


def ensure_node_entry(state: ClusterState, cluster: Any, role_arn: str, entry_type: str) -> None:
    """EKS gives a managed node group's role an access entry unless one
    exists; on CONFIG_MAP clusters it edits aws-auth instead (nothing to simulate)."""
    if state.access_config.get("authenticationMode") == "CONFIG_MAP" or role_arn in state.entries:
        return
    try:
        new_access_entry(state, role_arn, entry_type, None, None, None, system=True)
    except EksError as error:
        log.debug("sandbox: no node access entry for %s: %s", role_arn, error.message)
