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
from provisioner.steps.karpenter.kinds import NODECLASS_DELETE_TIMEOUT
from tests.steps.test_cleanup import cluster_api

LIST_PROFILES = "iam:ListInstanceProfiles"


def _controller_role(iam: Any) -> dict[str, Any]:
    (role,) = [
        r
        for r in iam.list_roles(PathPrefix="/provisioner/dev/")["Roles"]
        if r["RoleName"].endswith("karpenter-controller")
    ]
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
            iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": statements})
            )
    return original


@pytest.mark.timeout(600)
def test_destroy_stops_naming_a_permission_the_controllers_finalizer_lacks(
    dev_applied: Any, cli: Any, boto: Any, session_for: Any
) -> None:
    iam = boto("iam")
    api = cluster_api(boto, session_for)
    (node_class,) = kube.list_objects(api, "karpenter.k8s.aws/v1", "EC2NodeClass")
    assert "karpenter.k8s.aws/termination" in node_class["metadata"]["finalizers"]
    uid = node_class["metadata"]["uid"]
    path = f"/karpenter/us-east-1/dev-eks/{uid}/"
    profiles = [p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["Path"] == path]
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
    assert (
        node_class["metadata"].get("deletionTimestamp")
        and "karpenter.k8s.aws/termination" in node_class["metadata"]["finalizers"]
    )
    conditions = {c["type"]: c for c in node_class["status"]["conditions"]}
    assert LIST_PROFILES in conditions["CleanupSucceeded"]["message"]
    assert [p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["Path"] == path]

    # With the permission back, the finalizer finishes: the profile goes, and so does everything.
    for name, document in original.items():
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    result = cli("destroy", "dev", "--yes")
    assert result.code == 0, result.out + result.err
    assert not [p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["Path"].startswith("/karpenter/")]


# --- the finalizer's calls, one by one (the emulated controller against the sandbox's IAM and EC2) ---


def _arrange(boto: Any, monkeypatch: pytest.MonkeyPatch, drop: str | None = None) -> tuple[Any, str]:
    """A controller role with the template's policies (less `drop`), an instance profile at the
    class's path and a launch template of the class, as Karpenter would have left them."""
    from provisioner.sandbox.eks import models as eks_models
    from provisioner.sandbox.karpenter_controller import Controller
    from provisioner.steps.karpenter.policies import controller_policies

    iam, ec2 = boto("iam"), boto("ec2")
    account = boto("sts").get_caller_identity()["Account"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    role = iam.create_role(RoleName="controller", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.create_role(RoleName="nodes", AssumeRolePolicyDocument=json.dumps(trust))
    for name, document in controller_policies(
        "dev-eks",
        "us-east-1",
        f"arn:aws:sqs:us-east-1:{account}:dev-eks",
        f"arn:aws:iam::{account}:role/nodes",
        "aws",
        account,
    ).items():
        if drop:
            statements = []
            for statement in document["Statement"]:
                actions = [
                    a
                    for a in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
                    if a != drop
                ]
                if actions:
                    statements.append({**statement, "Action": actions})
            document = {**document, "Statement": statements}
        iam.put_role_policy(RoleName="controller", PolicyName=name, PolicyDocument=json.dumps(document))
    monkeypatch.setattr(eks_models, "pod_identity_role_arn", lambda *args: role["Arn"])
    tags = {
        "kubernetes.io/cluster/dev-eks": "owned",
        "eks:eks-cluster-name": "dev-eks",
        "topology.kubernetes.io/region": "us-east-1",
        "karpenter.k8s.aws/ec2nodeclass": "default",
    }
    iam.create_instance_profile(
        InstanceProfileName="dev-eks_1",
        Path="/karpenter/us-east-1/dev-eks/uid-1/",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    iam.add_role_to_instance_profile(InstanceProfileName="dev-eks_1", RoleName="nodes")
    ec2.create_launch_template(
        LaunchTemplateName="karpenter.k8s.aws/1",
        LaunchTemplateData={"InstanceType": "m7i.large"},
        TagSpecifications=[
            {
                "ResourceType": "launch-template",
                "Tags": [{"Key": k, "Value": v} for k, v in {**tags, "karpenter.sh/nodepool": "amd64"}.items()],
            }
        ],
    )
    return Controller(account, "us-east-1", "dev-eks"), account


NODE_CLASS = {"metadata": {"name": "default", "uid": "uid-1"}, "spec": {"role": "nodes"}}


def test_the_finalizer_removes_the_classs_instance_profile_and_launch_templates(
    aws: str, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, _ = _arrange(boto, monkeypatch)
    assert controller.finalize(NODE_CLASS) is None
    assert not boto("iam").list_instance_profiles()["InstanceProfiles"]
    assert not boto("ec2").describe_launch_templates()["LaunchTemplates"]


@pytest.mark.parametrize(
    "action",
    [
        "iam:ListInstanceProfiles",
        "iam:GetInstanceProfile",
        "iam:DeleteInstanceProfile",
        "ec2:DescribeLaunchTemplates",
        "ec2:DeleteLaunchTemplate",
    ],
)
def test_the_finalizer_stops_at_the_first_call_its_role_may_not_make(
    aws: str, boto: Any, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    controller, _ = _arrange(boto, monkeypatch, drop=action)
    problem = controller.finalize(NODE_CLASS)
    assert problem and f"{action} denied" in problem and "role/controller" in problem
    assert boto("ec2").describe_launch_templates()["LaunchTemplates"]  # the last step never ran


def test_reconcile_makes_the_instance_profile_only_when_allowed(
    aws: str, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, _ = _arrange(boto, monkeypatch, drop="iam:CreateInstanceProfile")
    node_class = {"metadata": {"name": "other", "uid": "uid-2"}, "spec": {"role": "nodes", "tags": {"team": "web"}}}
    problem = controller.reconcile(node_class)
    assert problem and "iam:CreateInstanceProfile denied" in problem
    profiles = boto("iam").list_instance_profiles()["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == ["dev-eks_1"]  # only the arranged one
