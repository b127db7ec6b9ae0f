"""Karpenter's AWS prerequisites against the sandbox."""

from __future__ import annotations

import json

import pytest

from provisioner.engine import Action
from provisioner.planfile import load_plan
from provisioner.steps import build, karpenter
from tests.conftest import PLANS
from tests.idempotency import check_four_phases, runner, subgraph

DEV = load_plan("dev", PLANS)
NODES = build(DEV, "us-east-1")


@pytest.mark.parametrize("kind", ["sqs:queue", "events:rule"])
def test_apply_karpenter_kind_is_idempotent_through_four_phases(kind: str, session_for) -> None:
    check_four_phases(DEV, session_for, subgraph(NODES, lambda n: n.type == kind))


def test_apply_interruption_queue_is_encrypted_short_lived_and_tls_only(session_for, boto) -> None:
    nodes = subgraph(NODES, lambda n: n.key.startswith("karpenter/rule/"))
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="dev-eks")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "300"
    assert attributes["SqsManagedSseEnabled"] == "true"
    policy = json.loads(attributes["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    events = boto("events")
    rules = events.list_rules(NamePrefix="dev-eks-karpenter-")["Rules"]
    assert len(rules) == 5
    detail_types = {json.loads(r["EventPattern"])["detail-type"][0] for r in rules}
    assert detail_types == {
        "AWS Health Event",
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "EC2 Capacity Reservation Instance Interruption Warning",
    }
    for rule in rules:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == attributes["QueueArn"]

    # A target removed by hand is drift that apply restores.
    events.remove_targets(
        Rule=rules[0]["Name"], Ids=[events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"][0]["Id"]]
    )
    (change,) = [c for c in runner(DEV, session_for(), nodes).plan().changes if c.action is not Action.NOOP]
    assert change.type == "events:rule" and "targets" in change.diff
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    assert not runner(DEV, session_for(), nodes).plan().has_changes


def test_controller_policy_is_scoped() -> None:
    policies = karpenter.controller_inline_policies("dev-eks", "us-east-1")
    statements = [s for document in policies.values() for s in document["Statement"]]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement["Sid"]
    by_sid = {s["Sid"]: s for s in statements}
    terminate = by_sid["AllowScopedDeletion"]
    assert terminate["Condition"]["StringEquals"] == {"aws:ResourceTag/kubernetes.io/cluster/dev-eks": "owned"}
    launch = by_sid["AllowScopedEC2InstanceActionsWithTags"]
    assert launch["Condition"]["StringEquals"]["aws:RequestTag/eks:eks-cluster-name"] == "dev-eks"
    assert by_sid["AllowPassingInstanceRole"]["Resource"] == {"ref": karpenter.NODE_ROLE, "attr": "arn"}
    # ARNs name the session's partition, filled in at plan time; none says `arn:aws:`.
    assert "arn:aws:" not in json.dumps(policies)
    assert by_sid["AllowSSMReadActions"]["Resource"]["args"]["partition"] == ["@plan", "partition"]


def test_apply_puts_the_controller_and_node_role_policies_with_the_sessions_partition(session_for, boto) -> None:
    nodes = subgraph(NODES, lambda n: n.key in (karpenter.NODE_ROLE, karpenter.QUEUE))
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    iam = boto("iam")
    role = next(n for n in NODES if n.key == karpenter.NODE_ROLE).name
    attached = sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"])
    assert attached == sorted(f"arn:aws:iam::aws:policy/{name}" for name in karpenter.policies.NODE_MANAGED_POLICIES)
    assert not runner(DEV, session_for(), nodes).plan().has_changes


def test_apply_creates_the_spot_service_linked_role_once_and_destroy_keeps_it(session_for, boto) -> None:
    nodes = subgraph(NODES, lambda n: n.type == "iam:service-linked-role")
    assert [c.action for c in runner(DEV, session_for(), nodes).plan().changes] == [Action.CREATE]
    assert runner(DEV, session_for(), nodes).apply().status == "ok"
    assert boto("iam").get_role(RoleName="AWSServiceRoleForEC2Spot")["Role"]["Path"].startswith("/aws-service-role/")
    assert not runner(DEV, session_for(), nodes).plan().has_changes
    assert runner(DEV, session_for(), nodes).destroy().status == "ok"
    assert boto("iam").get_role(RoleName="AWSServiceRoleForEC2Spot")


def test_apply_keeps_a_spot_role_the_account_already_has(session_for, boto) -> None:
    boto("iam").create_service_linked_role(AWSServiceName="spot.amazonaws.com")
    nodes = subgraph(NODES, lambda n: n.type == "iam:service-linked-role")
    assert not runner(DEV, session_for(), nodes).plan().has_changes


QUEUE_NODES = subgraph(NODES, lambda n: n.type == "sqs:queue")


def _queue_changes(session_for) -> dict[str, Action]:
    return {c.key: c.action for c in runner(DEV, session_for(), QUEUE_NODES).plan().changes}


def test_discover_queue_reads_it_by_its_url_without_listing(session_for) -> None:
    assert runner(DEV, session_for(), QUEUE_NODES).apply().status == "ok"
    session = session_for()
    assert not runner(DEV, session, QUEUE_NODES).plan().has_changes
    assert session.calls["sqs:GetQueueAttributes"] == 1, session.calls
    assert "sqs:ListQueues" not in session.calls, session.calls


def test_discover_queue_shows_drift_of_an_attribute_read_by_its_url(session_for, boto) -> None:
    assert runner(DEV, session_for(), QUEUE_NODES).apply().status == "ok"
    sqs = boto("sqs")
    url = sqs.get_queue_url(QueueName="dev-eks")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "600"})
    (change,) = runner(DEV, session_for(), QUEUE_NODES).plan().changes
    assert change.action is Action.UPDATE and "retention_seconds" in change.diff


def test_discover_queue_never_adopts_a_look_alike_without_the_plans_tags(session_for, boto) -> None:
    # Same name, so the built URL finds it; its tags (read one by one: the bulk read has only
    # tagged resources) are not this plan's.
    boto("sqs").create_queue(QueueName="dev-eks", tags={"team": "someone-else"})
    assert _queue_changes(session_for) == {"karpenter/interruption-queue": Action.CREATE}


def test_discover_queue_finds_a_queue_of_the_plan_it_no_longer_has(session_for, boto) -> None:
    # A queue tagged as the plan's under a name no node has: only the bulk tag read names it.
    boto("sqs").create_queue(
        QueueName="karpenter-interruptions-dev",
        tags={"provisioner:plan": "dev", "provisioner:key": "karpenter/queue-old", "ManagedBy": "provisioner"},
    )
    changes = _queue_changes(session_for)
    assert changes["karpenter/queue-old"] is Action.DELETE, changes


def test_discover_queue_lists_by_name_when_it_is_not_at_the_built_url(session_for, monkeypatch) -> None:
    from provisioner.steps.karpenter import queues

    assert runner(DEV, session_for(), QUEUE_NODES).apply().status == "ok"
    # SQS spelling a URL otherwise than `queue_url` builds it: found by name, not planned again.
    monkeypatch.setattr(queues, "queue_url", lambda sqs, account, name: f"{sqs.meta.endpoint_url}/{account}/x-{name}")
    session = session_for()
    assert not runner(DEV, session, QUEUE_NODES).plan().has_changes
    assert session.calls["sqs:ListQueues"] == 1, session.calls
