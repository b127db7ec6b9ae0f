"""Kinds several steps share: security groups and KMS keys."""

from __future__ import annotations

from provisioner.constants import TAG_KEY
from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.steps import build, eks
from provisioner.steps.kms import KmsKey
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, runner, subgraph

DEV = load_plan("dev", PLANS)
NODES = build(DEV)


def test_apply_security_groups_is_idempotent_through_four_phases(session_for) -> None:
    check_four_phases(DEV, session_for, subgraph(NODES, lambda n: n.type == "ec2:security-group"))


def test_apply_node_security_group_rules_reference_the_cluster_group(session_for, boto) -> None:
    nodes = subgraph(NODES, lambda n: n.type == "ec2:security-group")
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    ec2 = boto("ec2")
    described = ec2.describe_security_groups(Filters=[{"Name": "tag:provisioner:plan", "Values": ["dev"]}])[
        "SecurityGroups"
    ]
    groups = {
        next(t["Value"] for t in g["Tags"] if t["Key"] == TAG_KEY): g for g in described if g["GroupName"] != "default"
    }
    node, cluster = groups[eks.NODE_SG], groups[eks.CLUSTER_SG]
    sources = {
        (p.get("FromPort"), pair["GroupId"]) for p in node["IpPermissions"] for pair in p.get("UserIdGroupPairs", [])
    }
    assert (10250, cluster["GroupId"]) in sources and (None, node["GroupId"]) in sources
    assert {"Key": "karpenter.sh/discovery", "Value": "dev-eks"} in node["Tags"]
    assert cluster["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "10.10.0.0/16"}]

    # A rule opened by hand is drift: plan shows it, apply removes it.
    ec2.authorize_security_group_ingress(
        GroupId=node["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    (change,) = [c for c in runner(DEV, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert change.key == eks.NODE_SG and "ingress" in change.diff
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    assert not runner(DEV, session_for(), nodes).plan().has_changes


def test_apply_kms_keys_in_two_regions_is_idempotent_and_rotates(session_for, boto) -> None:
    keys = [
        KmsKey(key="test/key", name="test", description="a test key"),
        KmsKey(key="test/dr-key", name="test-dr", description="a DR test key", region="us-west-2"),
    ]
    check_four_phases(DEV, session_for, keys)
    assert runner(DEV, session_for(), keys).apply().status == "ok"
    for region, alias in (("us-east-1", "alias/provisioner/dev/test"), ("us-west-2", "alias/provisioner/dev/test-dr")):
        kms = boto("kms", region)
        (found,) = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == alias]
        assert kms.get_key_rotation_status(KeyId=found["TargetKeyId"])["KeyRotationEnabled"] is True
    result = runner(DEV, session_for(), keys).destroy()
    assert result.status == "ok"
    states = [
        boto("kms", r).describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
        for r in ("us-east-1", "us-west-2")
        for k in boto("kms", r).list_keys()["Keys"]
    ]
    assert states and set(states) == {"PendingDeletion"}
