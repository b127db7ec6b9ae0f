"""KMS keys (steps/kms) against the sandbox: their discovery reads the run's one bulk tag read
per region (issue #17), and still sees drift and what a killed destroy left behind."""

from __future__ import annotations

from typing import Any

from provisioner.constants import TAG_DELETING_FROM, TAG_KEY, TAG_MANAGED_BY, TAG_PLAN
from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.steps.kms import KmsKey
from provisioner.steps.network.flow_logs import LogGroup
from tests.conftest import PLANS
from tests.idempotency import runner

DEV = load_plan("dev", PLANS)


def nodes() -> list[Any]:
    return [
        KmsKey(key="eks/kms-key", name="eks-secrets", description="Kubernetes secrets of dev-eks"),
        KmsKey(key="dr/kms-key", name="dr", description="copies in the DR region", region="us-west-2"),
        # A kind whose tags come from the same bulk read.
        LogGroup(key="network/flow-logs/log-group", name="/provisioner/dev/vpc-flow-logs", retention_days=30),
    ]


def key_id(boto: Any, key: str, region: str = "us-east-1") -> str:
    tagging = boto("resourcegroupstaggingapi", region)
    (found,) = [
        item["ResourceARN"]
        for item in tagging.get_resources(ResourceTypeFilters=["kms:key"])["ResourceTagMappingList"]
        if {"Key": TAG_KEY, "Value": key} in item["Tags"]
    ]
    return found.rsplit("/", 1)[-1]


def test_keys_in_every_region_come_from_the_shared_tag_read_and_drift_is_seen(session_for, boto) -> None:
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    session = session_for()
    assert not runner(DEV, session, nodes()).plan().has_changes
    # One GetResources per region, shared with the log group's tags: none of its own for keys.
    assert session.calls["tagging:GetResources"] == 2, session.calls
    assert "logs:ListTagsForResource" not in session.calls

    boto("kms").disable_key_rotation(KeyId=key_id(boto, "eks/kms-key"))
    boto("kms", "us-west-2").disable_key(KeyId=key_id(boto, "dr/kms-key", "us-west-2"))
    changes = {c.key: c for c in runner(DEV, session_for(), nodes()).plan().changes if c.action is not Action.NOOP}
    assert {k: set(c.diff) for k, c in changes.items()} == {"eks/kms-key": {"rotation"}, "dr/kms-key": {"enabled"}}
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    assert not runner(DEV, session_for(), nodes()).plan().has_changes


def test_a_key_a_killed_destroy_left_with_only_its_marker_is_still_scheduled(session_for, boto) -> None:
    """Destroy drops the ownership tags for a deleting marker before it schedules the key's
    deletion; a run killed in between leaves a key only the marker names. The shared tag
    read has no tag filter, so it still returns that key and the next destroy finishes."""
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    kms = boto("kms")
    left = key_id(boto, "eks/kms-key")
    kms.tag_resource(KeyId=left, Tags=[{"TagKey": TAG_DELETING_FROM, "TagValue": "dev/eks/kms-key"}])
    kms.untag_resource(KeyId=left, TagKeys=[TAG_PLAN, TAG_KEY, TAG_MANAGED_BY])
    # Another plan's marker is not this plan's business.
    other = kms.create_key(Tags=[{"TagKey": TAG_DELETING_FROM, "TagValue": "staging/eks/kms-key"}])["KeyMetadata"]

    result = runner(DEV, session_for(), nodes()).destroy()
    assert result.status == "ok", result.failures()
    assert kms.describe_key(KeyId=left)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=other["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_keys_are_read_by_their_alias_which_shows_an_alias_removed_or_moved(session_for, boto) -> None:
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    session = session_for()
    assert not runner(DEV, session, nodes()).plan().has_changes
    # DescribeKey by the alias tells that the alias is on the key: no ListAliases.
    assert session.calls["kms:DescribeKey"] == 2 and "kms:ListAliases" not in session.calls, session.calls

    kms = boto("kms")
    kms.delete_alias(AliasName="alias/provisioner/dev/eks-secrets")
    moved = kms.create_key()["KeyMetadata"]["KeyId"]
    kms_dr = boto("kms", "us-west-2")
    kms_dr.update_alias(AliasName="alias/provisioner/dev/dr", TargetKeyId=kms_dr.create_key()["KeyMetadata"]["KeyId"])
    changes = {c.key: c for c in runner(DEV, session_for(), nodes()).plan().changes if c.action is not Action.NOOP}
    assert {k: set(c.diff) for k, c in changes.items()} == {"eks/kms-key": {"aliases"}, "dr/kms-key": {"aliases"}}
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    assert not runner(DEV, session_for(), nodes()).plan().has_changes
    target = kms_dr.describe_key(KeyId="alias/provisioner/dev/dr")["KeyMetadata"]["KeyId"]
    assert target == key_id(boto, "dr/kms-key", "us-west-2")
    assert kms.describe_key(KeyId=moved)["KeyMetadata"]["KeyState"] == "Enabled"  # not ours: untouched


def test_a_key_the_plan_no_longer_has_is_deleted_with_its_alias(session_for, boto) -> None:
    assert runner(DEV, session_for(), nodes()).apply().status == "ok"
    kept = [n for n in nodes() if n.key != "dr/kms-key"]
    (change,) = [c for c in runner(DEV, session_for(), kept).plan().changes if c.action is not Action.NOOP]
    assert change.key == "dr/kms-key" and change.action is Action.DELETE
    assert runner(DEV, session_for(), kept).apply().status == "ok"
    aliases = {a["AliasName"] for a in boto("kms", "us-west-2").list_aliases()["Aliases"]}
    assert "alias/provisioner/dev/dr" not in aliases
