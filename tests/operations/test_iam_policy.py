"""`iam-policy`: every kind declares its IAM actions, and they cover what a real run calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner.operations.iam_policy import EXTRA_ACTIONS, all_kinds, required_actions

# Where an API operation is authorised by a differently named IAM action.
IAM_PREFIX = {"tagging": "tag", "elasticloadbalancing": "elasticloadbalancing"}
ACTION_FOR = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3:DeleteObjects": "s3:DeleteObject",
}
# Calls IAM does not authorise (any caller may make them).
FREE = {"sts:GetCallerIdentity"}


def action_of(service: str, operation: str) -> str:
    name = f"{IAM_PREFIX.get(service, service)}:{operation}"
    return ACTION_FOR.get(name, name)


def test_every_resource_kind_declares_its_iam_actions() -> None:
    kinds = all_kinds()
    assert len(kinds) > 40
    for kind in kinds:
        assert "iam_actions" in vars(kind) and kind.iam_actions, f"{kind.__module__}.{kind.__name__} ({kind.type})"
        for action in kind.iam_actions:
            service, _, name = action.partition(":")
            assert service and name and "*" not in action and name[0].isupper(), f"{kind.__name__}: {action!r}"


def test_iam_policy_prints_a_valid_document_without_wildcard_actions(cli) -> None:
    result = cli("iam-policy")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["Version"] == "2012-10-17"
    actions = [a for s in document["Statement"] for a in s["Action"]]
    assert actions and all("*" not in a for a in actions)
    assert len(actions) == len(set(actions))
    assert {"ec2:CreateVpc", "eks:CreateCluster", "rds:CreateDBInstance", "iam:PassRole", "sts:AssumeRole"} <= set(
        actions
    )
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["Iam"]["Resource"][0] == "arn:aws:iam::*:role/provisioner/*"
    assert by_sid["Sts"]["Resource"] == ["arn:aws:iam::*:role/OrganizationAccountAccessRole"]
    assert all(s["Effect"] in ("Allow", "Deny") and s["Resource"] for s in document["Statement"])
    assert {s["Sid"] for s in document["Statement"] if s["Effect"] == "Deny"} == {
        "DenyRemovingTheBoundary",
        "DenyChangingTheBoundaryPolicy",
    }


def test_iam_policy_for_dev_only_leaves_out_the_organization(cli) -> None:
    result = cli("iam-policy", "dev")
    assert result.code == 0, result.err
    actions = {a for s in json.loads(result.out)["Statement"] for a in s["Action"]}
    assert "ec2:CreateNatGateway" in actions and "organizations:CreateAccount" not in actions
    assert set(EXTRA_ACTIONS["kubeconfig"]) <= actions


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str, str]]:
    """Every (node key, service, operation) the production sessions send, by botocore's
    after-call hook (the one the session counts calls with)."""
    from provisioner.aws.session import AwsSession
    from provisioner.engine.context import current_key

    seen: list[tuple[str | None, str, str]] = []
    original = AwsSession._after_call

    def record(self: Any, http_response: Any = None, parsed: Any = None, model: Any = None, **kwargs: Any) -> None:
        service_model = getattr(model, "service_model", None)
        if service_model is not None:
            seen.append((current_key.get(), service_model.signing_name, model.name))
        original(self, http_response=http_response, parsed=parsed, model=model, **kwargs)

    monkeypatch.setattr(AwsSession, "_after_call", record)
    return seen


# The calls of `apply dev` then `destroy dev`, recorded once for the module: both tests below
# that judge them read the same run instead of applying and destroying dev twice.
_DEV_APPLY_AND_DESTROY: list[list[tuple[str | None, str, str]]] = []


def apply_then_destroy(cli: Any, calls: list[tuple[str | None, str, str]], plans: list[str]) -> None:
    """Apply `plans` in order, destroy the last (organization is protected), recording `calls`."""
    if plans == ["dev"] and _DEV_APPLY_AND_DESTROY:
        calls[:] = _DEV_APPLY_AND_DESTROY[0]
        return
    for plan in plans:
        applied = cli("apply", plan, "--yes")
        assert applied.code == 0, applied.err
    assert cli("destroy", plans[-1], "--yes").code == 0
    if plans == ["dev"]:
        _DEV_APPLY_AND_DESTROY.append(list(calls))


@pytest.mark.parametrize("plans", [["dev"], ["organization", "shared"]])
def test_declared_actions_cover_every_call_of_apply_and_destroy(cli, calls, plans) -> None:
    apply_then_destroy(cli, calls, plans)
    declared = set(required_actions())
    needed = {action_of(service, operation) for _, service, operation in calls} - FREE
    assert len(needed) > 20
    assert sorted(needed - declared) == []


def test_each_kind_declares_the_calls_its_node_makes(cli, calls, single_account_plans) -> None:
    from provisioner.planfile import load_plan
    from provisioner.steps import build

    apply_then_destroy(cli, calls, ["dev"])
    kinds = {node.key: type(node) for node in build(load_plan("dev", single_account_plans))}
    missing = set()
    for key, service, operation in calls:
        kind = kinds.get(key or "")
        action = action_of(service, operation)
        if kind is not None and action not in FREE and action not in kind.iam_actions:
            missing.add((kind.__name__, action))
    assert sorted(missing) == []


def test_pass_role_only_to_the_services_the_tool_hands_roles_to() -> None:
    from provisioner.operations.iam_policy import policy_document

    statements = policy_document()["Statement"]
    passing = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert len(passing) == 1, passing
    (statement,) = passing
    assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "eks.amazonaws.com",
        "pods.eks.amazonaws.com",
        "vpc-flow-logs.amazonaws.com",
    ]
    assert statement["Resource"] == "arn:aws:iam::*:role/provisioner/*"
