"""Managed node groups have instances and Nodes in the sandbox, as on EKS: `kubectl get nodes`
lists the group's nodes with its labels and taints, and they go with scale-in and delete."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from provisioner.aws.eks_token import eks_token
from provisioner.kube.client import api_client
from tests.sandbox.test_eks_api import Env

REGION = "us-east-1"


def instances(env: Env, group: str = "system") -> list[dict[str, Any]]:
    filters = [
        {"Name": "tag:eks:nodegroup-name", "Values": [group]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ]
    return [i for r in env.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def nodes(env: Env, session_for: Any, cluster: str = "c1") -> list[Any]:
    described = env.eks.describe_cluster(name=cluster)["cluster"]
    client = api_client(
        described["endpoint"], described["certificateAuthority"]["data"], eks_token(session_for(REGION), cluster)
    )
    try:
        return sorted(k8s.CoreV1Api(client).list_node().items, key=lambda n: n.metadata.name)
    finally:
        client.close()


def test_node_group_instances_join_as_ready_nodes_with_its_labels_and_taints(boto, session_for) -> None:
    env = Env(boto)
    env.cluster()
    env.nodegroup(
        scalingConfig={"minSize": 2, "maxSize": 3, "desiredSize": 2},
        instanceTypes=["m7g.large"],
        amiType="AL2023_ARM_64_STANDARD",
        labels={"role": "system"},
        taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}],
    )
    running = instances(env)
    assert len(running) == 2
    assert {i["SubnetId"] for i in running} == set(env.subnets)  # spread over the group's subnets
    assert all(i["InstanceType"] == "m7g.large" for i in running)
    tags = {t["Key"]: t["Value"] for t in running[0]["Tags"]}
    assert tags["eks:cluster-name"] == "c1" and tags["kubernetes.io/cluster/c1"] == "owned"

    found = nodes(env, session_for)
    assert len(found) == 2
    by_provider = {n.spec.provider_id: n for n in found}
    assert set(by_provider) == {f"aws:///{i['Placement']['AvailabilityZone']}/{i['InstanceId']}" for i in running}
    node = found[0]
    assert node.metadata.name in {i["PrivateDnsName"] for i in running}
    labels = node.metadata.labels
    assert labels["eks.amazonaws.com/nodegroup"] == "system" and labels["role"] == "system"
    assert labels["node.kubernetes.io/instance-type"] == "m7g.large" and labels["kubernetes.io/arch"] == "arm64"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("CriticalAddonsOnly", "true", "NoSchedule")]
    assert [(c.type, c.status) for c in node.status.conditions] == [("Ready", "True")]


def test_nodes_follow_scaling_and_go_with_the_node_group(boto, session_for) -> None:
    env = Env(boto)
    env.cluster()
    env.nodegroup(scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
    assert len(nodes(env, session_for)) == 2
    env.eks.update_nodegroup_config(
        clusterName="c1",
        nodegroupName="system",
        scalingConfig={"desiredSize": 1},
        labels={"addOrUpdateLabels": {"tier": "core"}},
    )
    assert len(instances(env)) == 1
    (node,) = nodes(env, session_for)
    assert node.metadata.labels["tier"] == "core"
    # A node someone else registered (Karpenter's) is not the node group's to remove.
    described = env.eks.describe_cluster(name="c1")["cluster"]
    client = api_client(
        described["endpoint"], described["certificateAuthority"]["data"], eks_token(session_for(REGION), "c1")
    )
    try:
        k8s.CoreV1Api(client).create_node(
            k8s.V1Node(metadata=k8s.V1ObjectMeta(name="karpenter-node", labels={"karpenter.sh/nodepool": "x"}))
        )
    finally:
        client.close()

    env.eks.delete_nodegroup(clusterName="c1", nodegroupName="system")
    assert instances(env) == []
    assert [n.metadata.name for n in nodes(env, session_for)] == ["karpenter-node"]
