"""Day two (SPEC section 11, issue #15 items 1-4): changing a running environment.

- a new AZ changes the control plane's subnets in place (never outside the AZs the cluster
  was created in, which the sandbox refuses as EKS does) and gives the node group (a
  create-before-destroy replacement) and Karpenter a subnet there;
- a node group replacement keeps a system node group ACTIVE at every moment;
- one apply converges after a cluster replacement (its contents are re-created, not trusted);
- every remaining replacement says why.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.sandbox.server import set_latency
from provisioner.steps import build, eks
from tests.conftest import PLANS
from tests.idempotency import runner

DEV = load_plan("dev", PLANS)
# What "the cluster level" is: the control plane and what lives in it, except the node group.
CLUSTER_LEVEL = ("eks/cluster", "eks/addon/", "eks/access/", "eks/oidc-provider", "karpenter/")


def with_network(plan: Any, zones: list[str], public: list[str], private: list[str]) -> Any:
    network = plan.spec.network.model_copy(
        update={"availability_zones": zones, "public_subnets": public, "private_subnets": private}
    )
    return dataclasses.replace(plan, spec=plan.spec.model_copy(update={"network": network}))


def with_third_az(plan: Any) -> Any:
    net = plan.spec.network
    return with_network(
        plan,
        [*net.availability_zones, "us-east-1c"],
        [*net.public_subnets, "10.10.8.0/22"],
        [*net.private_subnets, "10.10.192.0/18"],
    )


def with_system_nodes(plan: Any, **changes: Any) -> Any:
    spec = plan.spec
    nodes = spec.eks.system_nodes.model_copy(update=changes)
    return dataclasses.replace(
        plan, spec=spec.model_copy(update={"eks": spec.eks.model_copy(update={"system_nodes": nodes})})
    )


def not_done(result: Any) -> list[tuple[str, str | None]]:
    return [(r.key, r.error) for r in result.results.values() if r.status != "done"]


@pytest.fixture
def applied(session_for: Any, prepared: Any) -> None:
    """dev applied (through `prepared`: built once per process, then restored)."""

    def apply_dev() -> None:
        result = runner(DEV, session_for(), build(DEV)).apply()
        assert result.status == "ok", not_done(result)

    prepared("dev applied", apply_dev)


def subnet_zones(boto: Any, subnet_ids: list[str]) -> set[str]:
    return {s["AvailabilityZone"] for s in boto("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]}


# ------------------------------------------------------------------------------ item 1


def test_sandbox_refuses_cluster_subnets_outside_the_azs_it_was_created_in(applied: None, boto: Any) -> None:
    ec2, eks_api = boto("ec2"), boto("eks")
    cluster = eks_api.describe_cluster(name="dev-eks")["cluster"]
    subnets = cluster["resourcesVpcConfig"]["subnetIds"]
    vpc_id = cluster["resourcesVpcConfig"]["vpcId"]
    zone_c = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.10.192.0/20", AvailabilityZone="us-east-1c")["Subnet"][
        "SubnetId"
    ]
    zone_a = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.10.208.0/20", AvailabilityZone="us-east-1a")["Subnet"][
        "SubnetId"
    ]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}

    with pytest.raises(ClientError) as added:  # a third AZ
        eks_api.update_cluster_config(name="dev-eks", resourcesVpcConfig={"subnetIds": [*subnets, zone_c]})
    assert added.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "us-east-1c" in added.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as moved:  # b given up for c
        eks_api.update_cluster_config(name="dev-eks", resourcesVpcConfig={"subnetIds": [by_zone["us-east-1a"], zone_c]})
    assert moved.value.response["Error"]["Code"] == "InvalidParameterException"

    # Another subnet in one of its AZs is fine, as on EKS.
    update = eks_api.update_cluster_config(
        name="dev-eks", resourcesVpcConfig={"subnetIds": [zone_a, by_zone["us-east-1b"]]}
    )["update"]
    assert update["type"] == "VpcConfigUpdate"
    assert sorted(eks_api.describe_cluster(name="dev-eks")["cluster"]["resourcesVpcConfig"]["subnetIds"]) == sorted(
        [zone_a, by_zone["us-east-1b"]]
    )


def test_third_az_keeps_the_cluster_and_gives_the_node_group_and_karpenter_subnets_there(
    applied: None, session_for: Any, boto: Any
) -> None:
    eks_api = boto("eks")
    before = eks_api.describe_cluster(name="dev-eks")["cluster"]
    plan = with_third_az(DEV)
    nodes = build(plan)

    changes = {c.key: c for c in runner(plan, session_for(), nodes).plan().changes if c.action is not Action.NOOP}
    assert not [k for k, c in changes.items() if k.startswith(CLUSTER_LEVEL)], changes
    assert changes[eks.NODEGROUP].action is Action.REPLACE
    assert "subnet_ids" in changes[eks.NODEGROUP].diff
    assert "a new group is made and ready before the old one" in (changes[eks.NODEGROUP].reason or "")
    assert all(c.reason for c in changes.values() if c.action is Action.REPLACE)

    result = runner(plan, session_for(), nodes).apply()
    assert result.status == "ok", not_done(result)
    after = runner(plan, session_for(), nodes).plan()
    assert not after.has_changes, [c.as_dict() for c in after.changes if c.action is not Action.NOOP]

    cluster = eks_api.describe_cluster(name="dev-eks")["cluster"]
    assert cluster["arn"] == before["arn"] and cluster["createdAt"] == before["createdAt"]
    assert subnet_zones(boto, cluster["resourcesVpcConfig"]["subnetIds"]) == {"us-east-1a", "us-east-1b"}
    (group_name,) = eks_api.list_nodegroups(clusterName="dev-eks")["nodegroups"]
    group = eks_api.describe_nodegroup(clusterName="dev-eks", nodegroupName=group_name)["nodegroup"]
    assert subnet_zones(boto, group["subnets"]) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    # Karpenter's EC2NodeClass selects subnets by the discovery tag, which the new private subnet carries.
    tagged = boto("ec2").describe_subnets(Filters=[{"Name": "tag:karpenter.sh/discovery", "Values": ["dev-eks"]}])[
        "Subnets"
    ]
    assert {s["AvailabilityZone"] for s in tagged} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    node_class = next(n for n in nodes if n.type == "k8s:ec2nodeclass")
    assert node_class.manifest["spec"]["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "dev-eks"}}]


def test_cluster_security_groups_change_in_place(applied: None, session_for: Any, boto: Any) -> None:
    nodes = [dataclasses.replace(n, security_group=eks.NODE_SG) if n.key == eks.CLUSTER else n for n in build(DEV)]
    changes = [c for c in runner(DEV, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert [(c.key, c.action, list(c.diff)) for c in changes] == [(eks.CLUSTER, Action.UPDATE, ["security_group_ids"])]
    before = boto("eks").describe_cluster(name="dev-eks")["cluster"]
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    cluster = boto("eks").describe_cluster(name="dev-eks")["cluster"]
    node_sg = boto("ec2").describe_security_groups(Filters=[{"Name": "tag:provisioner:key", "Values": [eks.NODE_SG]}])[
        "SecurityGroups"
    ][0]
    assert cluster["resourcesVpcConfig"]["securityGroupIds"] == [node_sg["GroupId"]]
    assert cluster["createdAt"] == before["createdAt"]
    assert not runner(DEV, session_for(), nodes).plan().has_changes


def test_dropping_an_az_of_the_control_plane_replaces_the_cluster_and_says_why(applied: None, session_for: Any) -> None:
    net = DEV.spec.network
    plan = with_network(
        DEV,
        ["us-east-1a", "us-east-1c"],
        [net.public_subnets[0], "10.10.8.0/22"],
        [net.private_subnets[0], "10.10.192.0/18"],
    )
    changes = runner(plan, session_for(), build(plan)).plan().by_key()
    cluster = changes[eks.CLUSTER]
    assert cluster.action is Action.REPLACE
    assert cluster.reason and "us-east-1b" in cluster.reason and "created in" in cluster.reason
    assert cluster.guard  # a cluster replacement is marked, with what depends on it
    assert eks.NODEGROUP in cluster.dependents
    # What lives in the cluster is replaced with it, never planned as unchanged.
    for key in ("eks/addon/coredns", "karpenter/crd/nodepools.karpenter.sh", "karpenter/deployment/karpenter"):
        assert changes[key].action is Action.REPLACE, changes[key]
        assert changes[key].reason == "it lives in eks/cluster, which is replaced"


# ------------------------------------------------------------------------------ item 2


def test_changing_system_instance_types_keeps_a_system_node_group_active_throughout(
    applied: None, session_for: Any, boto: Any
) -> None:
    plan = with_system_nodes(DEV, instance_types=["m6i.large"])
    nodes = build(plan)
    planned = runner(plan, session_for(), nodes).plan().by_key()[eks.NODEGROUP]
    assert planned.action is Action.REPLACE and "instance_types" in planned.diff

    eks_api = boto("eks")
    samples: list[dict[str, str]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            names = eks_api.list_nodegroups(clusterName="dev-eks")["nodegroups"]
            states = {}
            for name in names:
                try:
                    states[name] = eks_api.describe_nodegroup(clusterName="dev-eks", nodegroupName=name)["nodegroup"][
                        "status"
                    ]
                except ClientError:  # deleted between the list and the describe
                    continue
            samples.append(states)
            time.sleep(0.01)

    session = session_for()
    session.poll_scale = 0.005
    set_latency(0.005)  # node group create 0.55 s, delete 1.5 s (p50 x scale)
    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        result = runner(plan, session, nodes).apply()
    finally:
        stop.set()
        watcher.join()
        set_latency(0.0)
    assert result.status == "ok", not_done(result)

    assert samples and all("ACTIVE" in states.values() for states in samples), [
        s for s in samples if "ACTIVE" not in s.values()
    ][:3]
    assert any(len(states) == 2 for states in samples), "the sampler never saw the old and the new group together"
    assert any(states.get("system") == "DELETING" for states in samples)
    (name,) = eks_api.list_nodegroups(clusterName="dev-eks")["nodegroups"]
    assert name.startswith("system-") and len(name) == len("system-") + 8
    group = eks_api.describe_nodegroup(clusterName="dev-eks", nodegroupName=name)["nodegroup"]
    assert group["instanceTypes"] == ["m6i.large"] and group["status"] == "ACTIVE"
    assert not runner(plan, session_for(), nodes).plan().has_changes


# ------------------------------------------------------------------------------ item 4


def test_one_apply_converges_after_the_cluster_is_replaced(applied: None, session_for: Any, boto: Any) -> None:
    net = DEV.spec.network
    plan = with_network(
        DEV,
        ["us-east-1a", "us-east-1c"],
        [net.public_subnets[0], "10.10.8.0/22"],
        [net.private_subnets[0], "10.10.192.0/18"],
    )
    nodes = build(plan)
    old = boto("eks").describe_cluster(name="dev-eks")["cluster"]

    result = runner(plan, session_for(), nodes).apply()
    assert result.status == "ok", not_done(result)
    after = runner(plan, session_for(), nodes).plan()
    assert not after.has_changes, [c.as_dict() for c in after.changes if c.action is not Action.NOOP]

    cluster = boto("eks").describe_cluster(name="dev-eks")["cluster"]
    assert cluster["arn"] == old["arn"] and cluster["createdAt"] != old["createdAt"]  # a new cluster, same name
    assert subnet_zones(boto, cluster["resourcesVpcConfig"]["subnetIds"]) == {"us-east-1a", "us-east-1c"}
    done = {c.key: c.action for c in result.changeset.changes}
    assert done["karpenter/crd/nodepools.karpenter.sh"] is Action.REPLACE


# ------------------------------------------------------------------------------ item 3


def resized_prod(single_account_plans: Any) -> None:
    """Plans where prod's first private subnet is halved: a replacement of a subnet in use."""
    path = single_account_plans / "prod.yaml"
    text = path.read_text()
    assert "private_subnets: [10.30.64.0/18," in text
    path.write_text(text.replace("private_subnets: [10.30.64.0/18,", "private_subnets: [10.30.64.0/19,"))


def mutating(stats: dict[str, Any]) -> list[str]:
    from provisioner.aws.session import is_mutating

    return sorted(op for op in stats["operations"] if is_mutating(op.split(":", 1)[1]))


def test_protected_apply_refuses_an_unnamed_replacement_of_a_subnet_in_use(
    cli: Any, moto_server: Any, single_account_plans: Any
) -> None:
    applied = cli("apply", "prod", "--yes")
    assert applied.code == 0, applied.out[-3000:] + applied.err[-3000:]
    resized_prod(single_account_plans)

    planned = cli("plan", "prod")
    assert planned.code == 0
    assert "network/subnet/private-a" in planned.out and "! guarded: holds network interfaces" in planned.out
    assert (
        "Protected plan: apply refuses 1 guarded change(s) unless each is named: --allow-replace network/subnet/private-a"
        in planned.out
    )
    assert (
        "! depends on it: " in planned.out
        and "eks/cluster" in planned.out.split("! depends on it: ", 1)[1].splitlines()[0]
    )
    document = json.loads(cli("plan", "prod", "--output", "json").out)
    (subnet,) = [c for c in document["changes"] if c["key"] == "network/subnet/private-a"]
    assert (
        subnet["action"] == "replace" and subnet["reason"] and subnet["guard"] and "eks/cluster" in subnet["dependents"]
    )

    moto_server.app.reset_stats()
    refused = cli("apply", "prod", "--yes")
    assert refused.code == 1
    assert "apply refuses to replace network/subnet/private-a" in refused.err
    assert "--allow-replace network/subnet/private-a" in refused.err
    assert mutating(moto_server.app.stats()) == []  # nothing changed while it refused

    # Named but not typed back (no terminal, no --confirm): still refused, still nothing changed.
    unconfirmed = cli("apply", "prod", "--yes", "--allow-replace", "network/subnet/private-a")
    assert unconfirmed.code == 1 and "not typed back" in unconfirmed.err
    assert mutating(moto_server.app.stats()) == []


def test_named_and_confirmed_replacement_goes_ahead_until_aws_refuses_the_subnet_in_use(
    cli: Any, single_account_plans: Any
) -> None:
    """Past the guard, AWS has the last word: a subnet the database still uses cannot be
    deleted, and the step says so at once (the plan's own database is not leaving) instead of
    waiting for it to go."""
    assert cli("apply", "prod", "--yes").code == 0
    resized_prod(single_account_plans)
    started = time.monotonic()
    allowed = cli("apply", "prod", "--yes", "--allow-replace", "network/subnet/private-a", "--confirm", "prod")
    assert allowed.code == 1
    assert "network/subnet/private-a#delete" in allowed.out
    assert "rds:db-instance prod-postgres" in allowed.out and "plan prod keeps rds/instance in it" in allowed.out
    assert time.monotonic() - started < 60  # failed, not retried for the whole retry budget


def test_cli_third_az_in_a_copy_of_the_plans_converges_in_one_apply(cli: Any, single_account_plans: Any) -> None:
    """The issue's check, as a user runs it: dev applied, a third AZ added to a copy of plans/."""
    assert cli("apply", "dev", "--yes").code == 0
    path = single_account_plans / "dev.yaml"
    text = path.read_text()
    for old, new in (
        ("availability_zones: [us-east-1a, us-east-1b]", "availability_zones: [us-east-1a, us-east-1b, us-east-1c]"),
        ("public_subnets: [10.10.0.0/22, 10.10.4.0/22]", "public_subnets: [10.10.0.0/22, 10.10.4.0/22, 10.10.8.0/22]"),
        (
            "private_subnets: [10.10.64.0/18, 10.10.128.0/18]",
            "private_subnets: [10.10.64.0/18, 10.10.128.0/18, 10.10.192.0/18]",
        ),
    ):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)

    planned = json.loads(cli("plan", "dev", "--output", "json").out)
    replaced = {c["key"]: c for c in planned["changes"] if c["action"] == "replace"}
    assert not [k for k in replaced if k.startswith(CLUSTER_LEVEL)], replaced
    assert set(replaced) == {eks.NODEGROUP} and replaced[eks.NODEGROUP]["reason"]
    text_plan = cli("plan", "dev").out
    assert (
        "eks/nodegroup/system" in text_plan
        and "would replace (EKS cannot change a managed node group's subnet_ids" in text_plan
    )

    applied = cli("apply", "dev", "--yes")
    assert applied.code == 0, applied.out[-3000:] + applied.err[-3000:]
    again = cli("plan", "dev", "--detailed-exitcode")
    assert again.code == 0, again.out


def test_a_replacement_killed_before_the_old_group_went_finishes_on_the_next_apply(
    applied: None, session_for: Any, boto: Any
) -> None:
    """Both groups carry the node's key after a run killed between the new group's ACTIVE and
    the old one's deletion: the newest is the node's, the older a duplicate to delete."""
    eks_api = boto("eks")
    old = eks_api.describe_nodegroup(clusterName="dev-eks", nodegroupName="system")["nodegroup"]
    eks_api.create_nodegroup(
        clusterName="dev-eks",
        nodegroupName="system-0123abcd",
        nodeRole=old["nodeRole"],
        subnets=old["subnets"],
        instanceTypes=old["instanceTypes"],
        capacityType=old["capacityType"],
        amiType=old["amiType"],
        scalingConfig=old["scalingConfig"],
        labels=old["labels"],
        taints=old["taints"],
        launchTemplate={"id": old["launchTemplate"]["id"], "version": old["launchTemplate"]["version"]},
        tags=old["tags"],
    )
    nodes = build(DEV)
    changes = [c for c in runner(DEV, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert [(c.key, c.action, c.id, c.reason) for c in changes] == [
        (eks.NODEGROUP, Action.DELETE, "dev-eks/system", "duplicate of a resource with the same key")
    ]
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    assert eks_api.list_nodegroups(clusterName="dev-eks")["nodegroups"] == ["system-0123abcd"]
    assert not runner(DEV, session_for(), nodes).plan().has_changes
