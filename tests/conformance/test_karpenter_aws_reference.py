"""Karpenter's AWS side against the official v1.14.1 getting-started template.

What the tool would create (each node's `desired()`, refs filled as a run fills them) is
compared with the template's resources after substituting the template's parameters for one
run: a GovCloud partition (so a hard-coded `arn:aws:` cannot pass), its region, an account,
the dev plan's cluster, and the queue's and node role's ARNs. The controller's six policies
are compared statement by statement (by Sid: actions, resources, conditions), the node role's
trust and managed policies, the queue's properties and policy, and the five EventBridge
rules' patterns and targets. The only differences allowed are `policies.DIFFERENCES`, each
applied to the template before comparing; a listed difference that is not one fails too.

Comparison is of meaning, not spelling: a single action or resource equals a one-element
list, lists of actions, resources and condition values are compared as sets, and YAML's
`false` equals the JSON policy's "false" (IAM reads both the same).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioner.constants import cluster_name, iam_path, resource_name
from provisioner.engine.resource import Refs
from provisioner.planfile import load_plan
from provisioner.steps import karpenter
from provisioner.steps.eks import CLUSTER
from provisioner.steps.iam.boundary import BOUNDARY, boundary_arn
from provisioner.steps.karpenter import policies
from tests.conformance.reference import require_reference, substitute, template
from tests.conftest import PLANS

PARTITION, REGION, ACCOUNT = "aws-us-gov", "us-gov-west-1", "123456789012"
DEV = load_plan("dev", PLANS)
CLUSTER_NAME = cluster_name(DEV.name)
NODE_ROLE_NAME = resource_name(DEV.name, "karpenter-nodes")
NODE_ROLE_ARN = f"arn:{PARTITION}:iam::{ACCOUNT}:role{iam_path(DEV.name)}{NODE_ROLE_NAME}"
QUEUE_ARN = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{CLUSTER_NAME}"
PARAMS = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "ClusterName": CLUSTER_NAME,
    "Plan": DEV.name,
    "KarpenterNodeRole.Arn": NODE_ROLE_ARN,
    "KarpenterInterruptionQueue.Arn": QUEUE_ARN,
    "Ref:KarpenterInterruptionQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{CLUSTER_NAME}",
}
MISSING = object()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    require_reference()
    return template(PARAMS)


def refs() -> Refs:
    r = Refs()
    r.set("@plan", "plan", {"name": DEV.name, "region": REGION, "partition": PARTITION, "account_id": ACCOUNT})
    r.set(karpenter.QUEUE, "sqs:queue", {"arn": QUEUE_ARN, "name": CLUSTER_NAME})
    r.set(karpenter.NODE_ROLE, "iam:role", {"arn": NODE_ROLE_ARN, "name": NODE_ROLE_NAME})
    r.set(CLUSTER, "eks:cluster", {"arn": f"arn:{PARTITION}:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER_NAME}"})
    boundary = boundary_arn(PARTITION, ACCOUNT)  # every role the tool makes carries it (not in the template)
    r.set(BOUNDARY, "iam:policy", {"id": boundary, "arn": boundary})
    return r


def ours() -> dict[str, Any]:
    nodes = {n.key: n for n in karpenter.aws_resources(DEV, REGION)}
    r = refs()
    return {
        "controller": nodes[karpenter.CONTROLLER_ROLE].desired(r),
        "node_role": nodes[karpenter.NODE_ROLE].desired(r),
        "queue": nodes[karpenter.QUEUE].desired(r),
        "rules": [n.desired(r) for key, n in sorted(nodes.items()) if n.type == "events:rule"],
    }


# --- normalisation and the listed differences -------------------------------------------------


def _norm(value: Any, key: str | None = None) -> Any:
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, dict):
        return {k: _norm(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_norm(v) for v in value]
        return sorted(items, key=repr) if key != "Statement" else items
    if key in ("Action", "Resource") or (key or "").startswith("aws:") or ":" in (key or ""):
        return [value] if isinstance(value, str) else value
    return value


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        try:
            document = document[step]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return document


def _set(document: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = _get(document, path[:-1])
    assert parent is not MISSING, f"difference path {path} does not exist in the template"
    if value == policies.ABSENT:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def with_differences(resource: str, reference_doc: Any) -> Any:
    """The template's document with the listed deliberate differences for `resource` applied;
    each must really differ from the template."""
    patched = copy.deepcopy(reference_doc)
    for difference in policies.DIFFERENCES:
        if difference.resource != resource or not difference.path:
            continue
        value = substitute(difference.ours, PARAMS)
        before = _get(patched, difference.path)
        assert _norm(before if before is not MISSING else policies.ABSENT) != _norm(value), (
            f"listed difference {resource} {difference.path} is not a difference: the template has the same"
        )
        _set(patched, difference.path, value)
    return patched


# --- the comparisons --------------------------------------------------------------------------


def test_every_listed_difference_names_a_template_resource(reference: dict[str, Any]) -> None:
    types = {r["Type"] for r in reference.values()}
    for difference in policies.DIFFERENCES:
        assert difference.resource in reference or difference.resource in types, difference
        assert difference.reason.strip(), difference


def test_controller_policies_equal_the_templates_statement_by_statement(reference: dict[str, Any]) -> None:
    suffix = f"-{CLUSTER_NAME}"
    theirs = {
        r["Properties"]["ManagedPolicyName"].removesuffix(suffix): with_differences(
            logical_id, r["Properties"]["PolicyDocument"]
        )
        for logical_id, r in reference.items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    }
    mine = ours()["controller"]["inline_policies"]
    assert sorted(mine) == sorted(theirs), "policies added or removed"
    for name, document in theirs.items():
        want = {s["Sid"]: _norm(s) for s in document["Statement"]}
        have = {s["Sid"]: _norm(s) for s in mine[name]["Statement"]}
        assert sorted(have) == sorted(want), f"{name}: statements added or removed"
        for sid in want:
            assert set(have[sid].get("Action", [])) == set(want[sid].get("Action", [])), f"{name} {sid}: actions differ"
            assert have[sid] == want[sid], f"{name} {sid}"
        assert {k: v for k, v in mine[name].items() if k != "Statement"} == {
            k: v for k, v in document.items() if k != "Statement"
        }


def test_controller_policies_name_no_partition_but_the_sessions() -> None:
    text = repr(ours()["controller"]["inline_policies"])
    assert "arn:aws:" not in text and f"arn:{PARTITION}:" in text


def test_node_role_equals_the_templates(reference: dict[str, Any]) -> None:
    role = reference["KarpenterNodeRole"]["Properties"]
    theirs = with_differences(
        "KarpenterNodeRole",
        {
            "RoleName": role["RoleName"],
            "Path": role["Path"],
            "AssumeRolePolicyDocument": role["AssumeRolePolicyDocument"],
            "ManagedPolicyArns": role["ManagedPolicyArns"],
        },
    )
    mine = ours()["node_role"]
    assert _norm(
        {
            "RoleName": mine["name"],
            "Path": iam_path(DEV.name),
            "AssumeRolePolicyDocument": mine["trust"],
            "ManagedPolicyArns": mine["managed_policies"],
        }
    ) == _norm(theirs)


def test_interruption_queue_and_its_policy_equal_the_templates(reference: dict[str, Any]) -> None:
    queue = reference["KarpenterInterruptionQueue"]["Properties"]
    mine = ours()["queue"]
    assert (mine["name"], mine["retention_seconds"], mine["sse"]) == (
        queue["QueueName"],
        queue["MessageRetentionPeriod"],
        queue["SqsManagedSseEnabled"],
    )
    theirs = with_differences(
        "KarpenterInterruptionQueuePolicy",
        reference["KarpenterInterruptionQueuePolicy"]["Properties"]["PolicyDocument"],
    )
    assert [_norm(s) for s in mine["policy"]["Statement"]] == [_norm(s) for s in theirs["Statement"]]
    assert _norm(mine["policy"]) == _norm(theirs)


def test_queue_policy_limits_senders_to_the_account() -> None:
    (allow,) = [s for s in ours()["queue"]["policy"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_event_rules_equal_the_templates(reference: dict[str, Any]) -> None:
    theirs = sorted(
        (
            (_norm(r["Properties"]["EventPattern"]), [t["Arn"] for t in r["Properties"]["Targets"]])
            for r in reference.values()
            if r["Type"] == "AWS::Events::Rule"
        ),
        key=repr,
    )
    mine = sorted(((_norm(rule["pattern"]), rule["targets"]) for rule in ours()["rules"]), key=repr)
    assert mine == theirs
