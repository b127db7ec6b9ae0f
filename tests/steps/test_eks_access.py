"""EKS access entries by principal (issue 13 items 3, 4, 12): the operator's real role ARN,
earlier operators kept, one entry per principal, and IAM propagation retried."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from provisioner.engine import Action, Live, RunContext
from provisioner.planfile import load_plan
from provisioner.sandbox.eks import iam as eks_iam
from provisioner.sandbox.eks import models as eks_models
from provisioner.steps import build, eks
from provisioner.steps.eks.access import AccessEntry, PolicyAssociation
from tests.conftest import PLANS, SANDBOX_ACCOUNT
from tests.idempotency import runner, subgraph

DEV = load_plan("dev", PLANS)
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def eks_nodes(plan: Any) -> list[Any]:
    """The cluster and its access entries (and what they depend on): no node group, no Karpenter."""
    return subgraph(
        build(plan), lambda n: n.key == eks.CLUSTER or (n.type == "eks:access-entry" and n.key.startswith("eks/"))
    )


def with_admins(*arns: str) -> Any:
    spec = DEV.spec
    return dataclasses.replace(
        DEV, spec=spec.model_copy(update={"eks": spec.eks.model_copy(update={"admin_roles": list(arns)})})
    )


def other_operator(boto: Any, aws: str, name: str = "platform-oncall") -> Any:
    """A second engineer: a session of another role (no path)."""
    from provisioner.aws import AwsSession

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SANDBOX_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = boto("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    credentials = boto("sts").assume_role(RoleArn=arn, RoleSessionName="oncall")["Credentials"]
    session = AwsSession(
        region="us-east-1",
        endpoint_url=aws,
        credentials={
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        },
    )
    return arn, session


def entries(boto: Any) -> dict[str, list[str]]:
    """STANDARD entries (people and tools, not node roles) and their access policies."""
    client = boto("eks")
    return {
        p: [
            a["policyArn"]
            for a in client.list_associated_access_policies(clusterName="dev-eks", principalArn=p)[
                "associatedAccessPolicies"
            ]
        ]
        for p in client.list_access_entries(clusterName="dev-eks")["accessEntries"]
        if client.describe_access_entry(clusterName="dev-eks", principalArn=p)["accessEntry"]["type"] == "STANDARD"
    }


def test_caller_arn_of_an_sso_session_is_its_roles_arn_with_the_path(sso_session_for) -> None:
    session = sso_session_for()
    assert session._identity()["Arn"].startswith(f"arn:aws:sts::{SANDBOX_ACCOUNT}:assumed-role/AWSReservedSSO_")
    assert session.caller_arn == sso_session_for.role_arn
    assert "/aws-reserved/sso.amazonaws.com/us-east-1/" in session.caller_arn


def test_apply_by_another_operator_keeps_the_previous_operators_entry(sso_session_for, boto, aws) -> None:
    nodes = eks_nodes(DEV)
    assert runner(DEV, sso_session_for(), nodes).apply().status == "ok"
    first = sso_session_for.role_arn
    assert entries(boto)[first] == [ADMIN]

    second, session = other_operator(boto, aws)
    changes = {c.key: c for c in runner(DEV, session, nodes).plan().changes if c.action is not Action.NOOP}
    assert [(k, c.action) for k, c in changes.items()] == [(eks.TOOL_ACCESS, Action.CREATE)]  # no delete, no replace
    assert runner(DEV, session, nodes).apply().status == "ok"
    found = entries(boto)
    assert found[first] == [ADMIN] and found[second] == [ADMIN]
    # Converged for both operators: neither run wants to touch the other's entry.
    assert not runner(DEV, session, nodes).plan().has_changes
    assert not runner(DEV, sso_session_for(), nodes).plan().has_changes
    # destroy takes both with the cluster
    assert runner(DEV, session, nodes).destroy().status == "ok"
    assert boto("eks").list_clusters()["clusters"] == []


def test_caller_listed_in_admin_roles_gets_one_entry(sso_session_for, boto) -> None:
    caller = sso_session_for.role_arn
    listed = with_admins(caller)
    nodes = eks_nodes(listed)
    result = runner(listed, sso_session_for(), nodes).apply()
    assert result.status == "ok", [(r.key, r.error) for r in result.results.values() if r.status != "done"]
    assert entries(boto) == {caller: [ADMIN]}
    assert not runner(listed, sso_session_for(), nodes).plan().has_changes

    # Unlisted again: the same entry is the operator's now; nothing is deleted or re-made.
    nodes = eks_nodes(DEV)
    changes = [c for c in runner(DEV, sso_session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert [(c.key, c.action) for c in changes] == [(eks.TOOL_ACCESS, Action.UPDATE)]
    assert set(changes[0].diff) == {"tags.provisioner:key"}
    assert runner(DEV, sso_session_for(), nodes).apply().status == "ok"
    assert entries(boto) == {caller: [ADMIN]}
    assert not runner(DEV, sso_session_for(), nodes).plan().has_changes

    # Listed after the operator's entry exists: the admin_roles node takes it over.
    nodes = eks_nodes(listed)
    assert runner(listed, sso_session_for(), nodes).apply().status == "ok"
    assert entries(boto) == {caller: [ADMIN]}
    assert not runner(listed, sso_session_for(), nodes).plan().has_changes


class Clock:
    """The engine's clock and the sandbox's EKS clock moved together: waits take no real time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.elapsed = 0.0
        start = eks_models.clock()
        monkeypatch.setattr(eks_models, "clock", lambda: start + self.elapsed)

    def now(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds


def test_access_entry_for_a_role_iam_has_not_propagated_is_retried(sso_session_for, boto, monkeypatch) -> None:
    nodes = eks_nodes(DEV)
    assert runner(DEV, sso_session_for(), nodes).apply().status == "ok"
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = boto("iam").create_role(RoleName="fresh-nodes", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    delay = eks_iam.iam_propagation_delay(role)
    assert 0 < delay <= eks_iam.IAM_PROPAGATION_P95

    clock = Clock(monkeypatch)
    ctx = RunContext(plan=DEV, aws=sso_session_for(), clock=clock)
    ctx.refs.set("@plan", "plan", ctx.plan_refs())
    (cluster,) = ctx.live(eks.Cluster)
    ctx.refs.set(eks.CLUSTER, "eks:cluster", {"id": cluster.id, **cluster.outputs})
    ctx.refs.set("fresh/role", "iam:role", {"arn": role, "id": "fresh-nodes"})
    node = AccessEntry(key="fresh/access", cluster=eks.CLUSTER, principal="fresh/role", entry_type="EC2_LINUX")
    live = node.create(ctx, node.desired(ctx.refs))
    assert isinstance(live, Live) and clock.elapsed >= delay  # waited out the propagation, no failure
    assert (
        boto("eks").describe_access_entry(clusterName="dev-eks", principalArn=role)["accessEntry"]["type"]
        == "EC2_LINUX"
    )


def test_sandbox_refuses_access_entries_and_associations_for_a_role_younger_than_its_propagation(
    sso_session_for, boto, monkeypatch
) -> None:
    assert runner(DEV, sso_session_for(), eks_nodes(DEV)).apply().status == "ok"
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
    clock = Clock(monkeypatch)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto("iam").create_role(RoleName="fresh-pods", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    client = boto("eks")
    with pytest.raises(
        client.exceptions.InvalidParameterException, match="Role provided in the request does not exist"
    ):
        client.create_pod_identity_association(
            clusterName="dev-eks", namespace="kube-system", serviceAccount="x", roleArn=role
        )
    with pytest.raises(client.exceptions.InvalidParameterException, match="invalid principal"):
        client.create_access_entry(clusterName="dev-eks", principalArn=role)
    clock.elapsed = eks_iam.iam_propagation_delay(role) + 0.1
    client.create_pod_identity_association(
        clusterName="dev-eks", namespace="kube-system", serviceAccount="x", roleArn=role
    )
    client.create_access_entry(clusterName="dev-eks", principalArn=role)
    # Scale 0 (the default): no delay at all.
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 0.0)
    assert eks_iam.iam_propagation_delay(role) == 0.0


def test_same_client_request_token_makes_one_entry_association_and_addon(sso_session_for, boto) -> None:
    assert runner(DEV, sso_session_for(), eks_nodes(DEV)).apply().status == "ok"
    client = boto("eks")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto("iam").create_role(RoleName="pods", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    first = client.create_access_entry(clusterName="dev-eks", principalArn=role, clientRequestToken="t1")["accessEntry"]
    assert (
        client.create_access_entry(clusterName="dev-eks", principalArn=role, clientRequestToken="t1")["accessEntry"]
        == first
    )
    a = client.create_pod_identity_association(
        clusterName="dev-eks", namespace="n", serviceAccount="s", roleArn=role, clientRequestToken="t2"
    )
    b = client.create_pod_identity_association(
        clusterName="dev-eks", namespace="n", serviceAccount="s", roleArn=role, clientRequestToken="t2"
    )
    assert a["association"]["associationId"] == b["association"]["associationId"]
    assert len(client.list_pod_identity_associations(clusterName="dev-eks")["associations"]) == 1
    x = client.create_addon(clusterName="dev-eks", addonName="kube-proxy", clientRequestToken="t3")["addon"]
    assert (
        client.create_addon(clusterName="dev-eks", addonName="kube-proxy", clientRequestToken="t3")["addon"]["addonArn"]
        == x["addonArn"]
    )
    with pytest.raises(client.exceptions.ResourceInUseException):  # without the token: a second create
        client.create_addon(clusterName="dev-eks", addonName="kube-proxy")


def test_access_policy_arns_take_the_sessions_partition() -> None:
    from provisioner.engine import Refs

    refs = Refs()
    refs.set("@plan", "plan", {"partition": "aws-cn", "caller_arn": "arn:aws-cn:iam::123456789012:role/x"})
    refs.set(eks.CLUSTER, "eks:cluster", {"id": "c"})
    node = AccessEntry(
        key="k", cluster=eks.CLUSTER, principal="@caller", policies=(PolicyAssociation(eks.CLUSTER_ADMIN),)
    )
    assert node.desired(refs)["policies"] == [
        ["arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", "cluster", []]
    ]


def test_pod_identity_association_for_a_role_iam_has_not_propagated_is_retried(
    sso_session_for, boto, monkeypatch
) -> None:
    from provisioner.steps.eks.pod_identity import PodIdentityAssociation

    assert runner(DEV, sso_session_for(), eks_nodes(DEV)).apply().status == "ok"
    monkeypatch.setattr(eks_models, "LATENCY_SCALE", 1.0)
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
    role = boto("iam").create_role(RoleName="fresh-controller", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    clock = Clock(monkeypatch)
    ctx = RunContext(plan=DEV, aws=sso_session_for(), clock=clock)
    ctx.refs.set("@plan", "plan", ctx.plan_refs())
    (cluster,) = ctx.live(eks.Cluster)
    ctx.refs.set(eks.CLUSTER, "eks:cluster", {"id": cluster.id, **cluster.outputs})
    ctx.refs.set("fresh/role", "iam:role", {"arn": role, "id": "fresh-controller"})
    node = PodIdentityAssociation(
        key="fresh/pod-identity",
        cluster=eks.CLUSTER,
        namespace="kube-system",
        service_account="karpenter",
        role="fresh/role",
    )
    node.create(ctx, node.desired(ctx.refs))
    assert clock.elapsed >= eks_iam.iam_propagation_delay(role)
    (association,) = boto("eks").list_pod_identity_associations(clusterName="dev-eks", serviceAccount="karpenter")[
        "associations"
    ]
    assert association["namespace"] == "kube-system"


def test_access_entry_create_retried_after_a_lost_response_is_one_entry(sso_session_for, boto) -> None:
    nodes = eks_nodes(DEV)
    assert runner(DEV, sso_session_for(), nodes).apply().status == "ok"
    boto("eks")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SANDBOX_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = boto("iam").create_role(RoleName="auditor", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    ctx = RunContext(plan=DEV, aws=sso_session_for())
    ctx.refs.set("@plan", "plan", ctx.plan_refs())
    (cluster,) = ctx.live(eks.Cluster)
    ctx.refs.set(eks.CLUSTER, "eks:cluster", {"id": cluster.id, **cluster.outputs})
    node = AccessEntry(
        key="eks/access/auditor",
        cluster=eks.CLUSTER,
        principal=role,
        policies=(PolicyAssociation("AmazonEKSViewPolicy"),),
    )
    node.create(ctx, node.desired(ctx.refs))
    node.create(ctx, node.desired(ctx.refs))  # same clientRequestToken: the entry it made, not ResourceInUseException
    assert entries(boto)[role] == ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"]
