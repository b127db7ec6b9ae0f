"""The sandbox's emulated Karpenter controller acts on AWS only as its IAM role allows.

End to end, through the CLI against the sandbox: `apply dev` installs Karpenter, whose
emulated controller (sandbox/karpenter_controller.py) makes the EC2NodeClass's instance
profile as the controller role; removing `iam:ListInstanceProfiles` from that role's live
policy (as a hand edit, or a policy written without it, would) keeps the EC2NodeClass's
finalizer on deletion, and `destroy dev` stops at once naming the permission instead of
waiting out the EC2NodeClass timeout. Putting the permission back lets a destroy finish and
the finalizer remove the instance profile.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from provisioner.kube import client as kube
from provisioner.steps.karpenter.cluster import NODECLASS_DELETE_TIMEOUT
from tests.steps.test_cleanup import cluster_api

LIST_PROFILES = "iam:ListInstanceProfiles"


def _controller_role(iam: Any) -> dict[str, Any]:
    (role,) = [r for r in iam.list_roles(PathPrefix="/provisioner/dev/")["Roles"] if r["RoleName"].endswith("karpenter-controller")]
    return role


def _without(iam: Any, role: str, action: str) -> dict[str, Any]:
    """Remove `action` from every inline policy of the role (a statement left without actions goes);
    returns the original documents."""
    original = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        original[name] = json.loads(json.dumps(document))
        statements = []
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            kept = [a for a in actions if a != action]
            if kept:
                statements.append({**statement, "Action": kept})
        if statements != document["Statement"]:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": statements}))
    return original


@pytest.mark.timeout(600)
def test_destroy_stops_naming_a_permission_the_controllers_finalizer_lacks(cli: Any, boto: Any, session_for: Any) -> None:
    assert cli("apply", "dev", "--yes").code == 0
    iam = boto("iam")
    api = cluster_api(boto, session_for)
    (node_class,) = kube.list_objects(api, "karpenter.k8s.aws/v1", "EC2NodeClass")
    assert "karpenter.k8s.aws/termination" in node_class["metadata"]["finalizers"]
    uid = node_class["metadata"]["uid"]
    profiles = iam.list_instance_profiles(PathPrefix=f"/karpenter/us-east-1/dev-eks/{uid}/")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == [node_class["status"]["instanceProfile"]]
    assert profiles[0]["Roles"][0]["RoleName"] == node_class["spec"]["role"]
    # What the controller adds (finalizer, status) is not drift: a second plan changes nothing.
    planned = cli("plan", "dev", "--output", "json")
    assert {c["action"] for c in json.loads(planned.out)["changes"]} == {"noop"}, planned.out

    role = _controller_role(iam)["RoleName"]
    original = _without(iam, role, LIST_PROFILES)
    started = time.monotonic()
    result = cli("destroy", "dev", "--yes")
    elapsed = time.monotonic() - started
    assert result.code != 0
    assert LIST_PROFILES in result.out + result.err, result.out + result.err
    assert "EC2NodeClass default" in result.out + result.err
    assert elapsed < NODECLASS_DELETE_TIMEOUT / 10, elapsed
    # The class is still there, terminating, its finalizer and instance profile kept.
    (node_class,) = kube.list_objects(api, "karpenter.k8s.aws/v1", "EC2NodeClass")
    assert node_class["metadata"].get("deletionTimestamp") and "karpenter.k8s.aws/termination" in node_class["metadata"]["finalizers"]
    conditions = {c["type"]: c for c in node_class["status"]["conditions"]}
    assert LIST_PROFILES in conditions["CleanupSucceeded"]["message"]
    assert iam.list_instance_profiles(PathPrefix=f"/karpenter/us-east-1/dev-eks/{uid}/")["InstanceProfiles"]

    # With the permission back, the finalizer finishes: the profile goes, and so does everything.
    for name, document in original.items():
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    result = cli("destroy", "dev", "--yes")
    assert result.code == 0, result.out + result.err
    assert not iam.list_instance_profiles(PathPrefix="/karpenter/")["InstanceProfiles"]
