"""Destroy sweeps what controllers in the cluster leave behind (SPEC section 7), selected by
the cluster's tags, and leaves untagged look-alikes alone.

Leftovers are planted with plain boto3 after `apply dev`, as the AWS Load Balancer
Controller, the VPC CNI and Karpenter would leave them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner.aws.controllers import cluster_tag
from provisioner.kube import client as kube

CLUSTER = "dev-eks"


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _dev_vpc(ec2: Any) -> dict[str, Any]:
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])["Vpcs"]
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "tag:provisioner:key", "Values": ["network/subnet/private-a"]},
        ]
    )["Subnets"]
    node_sg = ec2.describe_security_groups(
        Filters=[
            {"Name": "tag:provisioner:key", "Values": ["eks/node-security-group"]},
            {"Name": "tag:provisioner:plan", "Values": ["dev"]},
        ]
    )["SecurityGroups"][0]
    return {"vpc": vpc["VpcId"], "subnet": subnets[0]["SubnetId"], "node_sg": node_sg["GroupId"]}


def cluster_api(boto: Any, session_for: Any) -> Any:
    """A Kubernetes client for dev's cluster, reached as the tool reaches it."""
    from provisioner.aws.eks_token import eks_token

    cluster = boto("eks").describe_cluster(name=CLUSTER)["cluster"]
    return kube.api_client(
        cluster["endpoint"], cluster["certificateAuthority"]["data"], eks_token(session_for("us-east-1"), CLUSTER)
    )


def plant(boto: Any, where: dict[str, str], owned: bool) -> dict[str, str]:
    """What controllers leave: tagged for the cluster when `owned`, else untagged look-alikes."""
    ec2, elbv2 = boto("ec2"), boto("elbv2")
    suffix = "owned" if owned else "alike"
    karpenter_tags = (
        _tags(**{"karpenter.sh/nodepool": "amd64", f"kubernetes.io/cluster/{CLUSTER}": "owned"})
        if owned
        else _tags(**{"karpenter.sh/nodepool": "amd64", "kubernetes.io/cluster/other-eks": "owned"})
    )
    lb_tags = (
        _tags(**{"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": "web/front"})
        if owned
        else _tags(team="web")
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=where["subnet"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": karpenter_tags}],
    )["Instances"][0]
    group = ec2.create_security_group(
        GroupName=f"k8s-web-{suffix}",
        Description="lb",
        VpcId=where["vpc"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": lb_tags}],
    )["GroupId"]
    if owned:  # the controller lets the load balancer's group reach the nodes
        ec2.authorize_security_group_ingress(
            GroupId=where["node_sg"],
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": group}]}
            ],
        )
    balancer = elbv2.create_load_balancer(
        Name=f"k8s-web-{suffix}",
        Subnets=[where["subnet"]],
        SecurityGroups=[group],
        Scheme="internal",
        Type="application",
        Tags=lb_tags,
    )["LoadBalancers"][0]
    target = elbv2.create_target_group(
        Name=f"k8s-web-{suffix}", Protocol="HTTP", Port=8080, VpcId=where["vpc"], TargetType="ip", Tags=lb_tags
    )["TargetGroups"][0]
    # The in-tree cloud provider's classic load balancer for a Service of type LoadBalancer.
    classic_tags = _tags(**{f"kubernetes.io/cluster/{CLUSTER}": "owned"}) if owned else _tags(team="web")
    classic = f"a{suffix}classic"
    # It makes its own group for it, tagged like the balancer (without one, moto would add an
    # untagged `default_elb_*` group that rightly blocks the VPC's deletion).
    classic_group = ec2.create_security_group(
        GroupName=f"k8s-elb-{classic}",
        Description="classic lb",
        VpcId=where["vpc"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": classic_tags}],
    )["GroupId"]
    boto("elb").create_load_balancer(
        LoadBalancerName=classic,
        Subnets=[where["subnet"]],
        Tags=classic_tags,
        SecurityGroups=[classic_group],
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
    )
    eni_tags = _tags(**{"cluster.k8s.amazonaws.com/name": CLUSTER}) if owned else _tags(purpose="manual")
    eni = ec2.create_network_interface(
        SubnetId=where["subnet"],
        Description=f"aws-K8S-{suffix}",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": eni_tags}],
    )
    template_tags = (
        _tags(**{"karpenter.k8s.aws/cluster": CLUSTER})
        if owned
        else _tags(**{"karpenter.k8s.aws/cluster": "other-eks"})
    )
    template = ec2.create_launch_template(
        LaunchTemplateName=f"karpenter.k8s.aws/{suffix}",
        LaunchTemplateData={},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": template_tags}],
    )
    profile_tags = (
        _tags(**{"karpenter.sh/managed-by": CLUSTER, f"kubernetes.io/cluster/{CLUSTER}": "owned"})
        if owned
        else _tags(team="web")
    )
    profile = boto("iam").create_instance_profile(InstanceProfileName=f"{CLUSTER}_{suffix}", Tags=profile_tags)
    return {
        "instance": instance["InstanceId"],
        "security_group": group,
        "load_balancer": balancer["LoadBalancerArn"],
        "target_group": target["TargetGroupArn"],
        "eni": eni["NetworkInterface"]["NetworkInterfaceId"],
        "launch_template": template["LaunchTemplate"]["LaunchTemplateId"],
        "instance_profile": profile["InstanceProfile"]["InstanceProfileName"],
        "classic_load_balancer": classic,
    }


def existing(boto: Any, planted: dict[str, str]) -> dict[str, bool]:
    ec2, elbv2 = boto("ec2"), boto("elbv2")
    instances = [
        i for r in ec2.describe_instances(InstanceIds=[planted["instance"]])["Reservations"] for i in r["Instances"]
    ]
    arns = {b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]}
    groups = {g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]}
    sgs = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    enis = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    templates = {t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}
    profiles = {p["InstanceProfileName"] for p in boto("iam").list_instance_profiles()["InstanceProfiles"]}
    classics = {b["LoadBalancerName"] for b in boto("elb").describe_load_balancers()["LoadBalancerDescriptions"]}
    return {
        "instance": any(i["State"]["Name"] != "terminated" for i in instances),
        "security_group": planted["security_group"] in sgs,
        "load_balancer": planted["load_balancer"] in arns,
        "target_group": planted["target_group"] in groups,
        "eni": planted["eni"] in enis,
        "launch_template": planted["launch_template"] in templates,
        "instance_profile": planted["instance_profile"] in profiles,
        "classic_load_balancer": planted["classic_load_balancer"] in classics,
    }


def test_cluster_tag_selects_only_this_clusters_marks() -> None:
    assert cluster_tag({f"kubernetes.io/cluster/{CLUSTER}": "owned"}, CLUSTER)
    assert cluster_tag({"elbv2.k8s.aws/cluster": CLUSTER}, CLUSTER)
    assert cluster_tag({"cluster.k8s.amazonaws.com/name": CLUSTER}, CLUSTER)
    assert cluster_tag({f"kubernetes.io/cluster/{CLUSTER}": "shared"}, CLUSTER) is None  # shared is not made for it
    assert cluster_tag({"elbv2.k8s.aws/cluster": "dev-eks-2"}, CLUSTER) is None
    assert cluster_tag({"Name": CLUSTER}, CLUSTER) is None


@pytest.mark.timeout(300)
def test_destroy_sweeps_what_controllers_left_and_spares_look_alikes(
    dev_applied: Any, cli: Any, boto: Any, session_for: Any
) -> None:
    where = _dev_vpc(boto("ec2"))
    owned = plant(boto, where, owned=True)
    # Look-alikes: the same things without this cluster's tags, beside the plan's VPC (inside
    # it they would block its deletion: see test_destroy_names_what_blocks_the_vpc).
    ec2 = boto("ec2")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    default_subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"][0][
        "SubnetId"
    ]
    alike = plant(boto, {"vpc": default_vpc, "subnet": default_subnet, "node_sg": ""}, owned=False)

    kube_api = cluster_api(boto, session_for)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    kube.server_side_apply(kube_api, service)
    cluster_ip = {
        **service,
        "metadata": {"name": "internal", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]},
    }
    kube.server_side_apply(kube_api, cluster_ip)

    # `plan --destroy` lists the leftovers with why they are swept.
    planned = cli("plan", "dev", "--destroy", "--output", "json")
    assert planned.code == 0, planned.err
    changes = json.loads(planned.out)["changes"]
    swept = {c["id"]: c for c in changes if c["key"].startswith("cleanup/")}
    for name in (
        "instance",
        "load_balancer",
        "target_group",
        "eni",
        "launch_template",
        "instance_profile",
        "security_group",
        "classic_load_balancer",
    ):
        assert owned[name] in swept, (name, sorted(swept))
        assert alike[name] not in swept
    assert "tagged" in swept[owned["load_balancer"]]["reason"]
    assert "Service default/web" in swept and "Service default/internal" not in swept
    assert json.loads(planned.out)["blockers"] == []  # everything in the VPC is the plan's or swept

    result = cli("destroy", "dev", "--yes", "--output", "json")
    assert result.code == 0, result.err + result.out
    assert existing(boto, owned) == dict.fromkeys(owned, False)
    # SPEC section 7's order: LoadBalancer Services first, Karpenter's instances before the
    # node group and cluster, the VPC-side sweep after the cluster, before the subnets.
    steps = {step["key"]: step for step in json.loads(result.out)["steps"]}
    assert steps["cleanup/kube-load-balancers"]["ended"] <= steps["eks/nodegroup/system"]["started"]
    assert steps["cleanup/karpenter-instances"]["ended"] <= steps["eks/cluster"]["started"]
    assert steps["eks/cluster"]["ended"] <= steps["cleanup/load-balancers"]["started"]
    assert steps["cleanup/security-groups"]["ended"] <= steps["eks/node-security-group"]["started"]
    assert steps["cleanup/network-interfaces"]["ended"] <= steps["network/subnet/private-a"]["started"]
    assert existing(boto, alike) == dict.fromkeys(alike, True)
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])["Vpcs"]
    assert cli("destroy", "dev", "--yes").code == 0


@pytest.mark.timeout(300)
def test_destroy_names_what_blocks_the_vpc_and_finishes_once_it_is_gone(dev_applied: Any, cli: Any, boto: Any) -> None:
    """An untagged instance in the plan's subnet is not the plan's to delete: destroy stops at
    once (no ten-minute retry) naming it, deletes everything else, and the next destroy
    finishes after the operator removed it."""
    import time

    ec2 = boto("ec2")
    where = _dev_vpc(ec2)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    stray = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=where["subnet"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(Name="debug-box")}],
    )
    stray_id = stray["Instances"][0]["InstanceId"]

    # The preflight answers "why can't this VPC be deleted" before anything is.
    preflight = cli("plan", "dev", "--destroy", "--output", "json")
    blockers = json.loads(preflight.out)["blockers"]
    assert any(stray_id in line and "network/vpc" in line for line in blockers), blockers
    assert "Destroy will stop at" in cli("plan", "dev", "--destroy").out

    started = time.monotonic()
    blocked = cli("destroy", "dev", "--yes")
    assert blocked.code == 1
    assert time.monotonic() - started < 60
    assert stray_id in blocked.err and "Name=debug-box" in blocked.err, blocked.err
    assert "network/subnet/private-a" in blocked.err
    assert "not belong to plan dev or cluster dev-eks" in blocked.err
    # Everything the instance does not block is gone already.
    assert not boto("eks").list_clusters()["clusters"]
    assert ec2.describe_vpcs(VpcIds=[where["vpc"]])["Vpcs"]

    ec2.terminate_instances(InstanceIds=[stray_id])
    assert json.loads(cli("plan", "dev", "--destroy", "--output", "json").out)["blockers"] == []
    finished = cli("destroy", "dev", "--yes")
    assert finished.code == 0, finished.err
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])["Vpcs"]


@pytest.mark.timeout(300)
def test_destroy_never_sweeps_what_only_looks_like_the_clusters(dev_applied: Any, cli: Any, boto: Any) -> None:
    """Inside the plan's VPC: a group shared with the cluster (not made for it), one made for
    another cluster, and one of another plan. None is swept; the VPC's deletion stops naming
    them, and they survive."""
    ec2 = boto("ec2")
    vpc = _dev_vpc(ec2)["vpc"]
    marks = {
        "shared": {f"kubernetes.io/cluster/{CLUSTER}": "shared"},
        "other-cluster": {"elbv2.k8s.aws/cluster": "staging-eks"},
        "other-plan": {
            "provisioner:plan": "staging",
            "provisioner:key": "eks/node-security-group",
            "kubernetes.io/cluster/dev-eks": "owned",
        },
    }
    groups = {
        name: ec2.create_security_group(
            GroupName=f"alike-{name}",
            Description="look-alike",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(**tags)}],
        )["GroupId"]
        for name, tags in marks.items()
    }
    planned = json.loads(cli("plan", "dev", "--destroy", "--output", "json").out)["changes"]
    assert not {c.get("id") for c in planned} & set(groups.values())

    blocked = cli("destroy", "dev", "--yes")
    assert blocked.code == 1
    for group in groups.values():
        assert group in blocked.err, blocked.err
    left = {
        g["GroupId"]
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    }
    assert set(groups.values()) <= left


@pytest.mark.timeout(300)
def test_destroy_stops_at_once_naming_a_restore_drill_that_uses_the_plans_network(
    dev_applied: Any, cli: Any, boto: Any
) -> None:
    """A `restore --as` drill runs in the plan's subnet group, security group and parameter
    group but is not the plan's: destroy names it instead of retrying for ten minutes, keeps
    the groups it uses, and finishes once the drill is gone."""
    import time

    restored = cli("restore", "dev", "--to", "latest", "--as", "dev-drill")
    assert restored.code == 0, restored.err
    started = time.monotonic()
    blocked = cli("destroy", "dev", "--yes")
    assert blocked.code == 1 and time.monotonic() - started < 60
    assert "dev-drill" in blocked.err, blocked.err
    rds = boto("rds")
    assert rds.describe_db_parameter_groups(DBParameterGroupName="dev-postgres17")["DBParameterGroups"]
    assert rds.describe_db_instances(DBInstanceIdentifier="dev-drill")["DBInstances"]  # still readable, no 500

    rds.delete_db_instance(DBInstanceIdentifier="dev-drill", SkipFinalSnapshot=True)
    finished = cli("destroy", "dev", "--yes")
    assert finished.code == 0, finished.err


@pytest.mark.timeout(300)
def test_destroy_keeps_the_key_of_a_manual_snapshot_so_it_stays_restorable(
    dev_applied: Any, cli: Any, boto: Any
) -> None:
    taken = cli("snapshot", "dev", "--output", "json")
    assert taken.code == 0, taken.err
    assert cli("destroy", "dev", "--yes").code == 0
    rds, kms = boto("rds"), boto("kms")
    (snapshot,) = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    key = kms.describe_key(KeyId=snapshot["KmsKeyId"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled", key["KeyState"]
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags.get("provisioner:retained-from") == "dev/rds/kms-key" and "provisioner:plan" not in tags
    # The other keys of dev are scheduled for deletion as before.
    eks_keys = [
        k
        for k in kms.list_keys()["Keys"]
        if k["KeyId"] != key["KeyId"]
        and kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    ]
    assert eks_keys
