"""The sandbox's IAM policy evaluator (sandbox/iam_evaluator.py), on the rules IAM documents."""

from __future__ import annotations

import json

from provisioner.sandbox.iam_evaluator import evaluate, matches, tag_context
from provisioner.steps.karpenter.policies import controller_policies

ACCOUNT, REGION, CLUSTER = "123456789012", "us-east-1", "dev-eks"
POLICIES = list(
    controller_policies(
        CLUSTER,
        REGION,
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{CLUSTER}",
        f"arn:aws:iam::{ACCOUNT}:role/provisioner/dev/dev-karpenter-nodes",
        "aws",
        ACCOUNT,
    ).values()
)
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/karpenter/{REGION}/{CLUSTER}/uid/{CLUSTER}_1"
OWNED = {
    f"kubernetes.io/cluster/{CLUSTER}": "owned",
    "topology.kubernetes.io/region": REGION,
    "karpenter.k8s.aws/ec2nodeclass": "default",
    "eks:eks-cluster-name": CLUSTER,
}


def test_wildcards_span_slashes_and_actions_ignore_case() -> None:
    assert matches("arn:aws:iam::*:instance-profile/*", PROFILE)
    assert matches("IAM:Get*", "iam:GetInstanceProfile", ignore_case=True)
    assert not matches("iam:Get?", "iam:GetInstanceProfile", ignore_case=True)


def test_the_controller_policies_allow_the_finalizers_calls_on_its_own_profiles_only() -> None:
    assert evaluate(POLICIES, "iam:ListInstanceProfiles", "*").allowed
    assert evaluate(POLICIES, "iam:GetInstanceProfile", PROFILE).allowed
    owned = tag_context("aws:ResourceTag", OWNED)
    assert evaluate(POLICIES, "iam:DeleteInstanceProfile", PROFILE, owned).allowed
    foreign = tag_context("aws:ResourceTag", {**OWNED, f"kubernetes.io/cluster/{CLUSTER}": "shared"})
    assert evaluate(POLICIES, "iam:DeleteInstanceProfile", PROFILE, foreign).reason == "no statement allows it"
    assert not evaluate(POLICIES, "iam:DeleteInstanceProfile", PROFILE).allowed  # no tags: StringEquals fails
    assert evaluate(POLICIES, "ec2:DescribeLaunchTemplates", "*", {"aws:RequestedRegion": REGION}).allowed
    assert not evaluate(POLICIES, "ec2:DescribeLaunchTemplates", "*", {"aws:RequestedRegion": "eu-west-1"}).allowed
    assert not evaluate(POLICIES, "iam:DeleteRole", "*").allowed


def test_for_all_values_and_if_exists() -> None:
    instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1"
    base = {
        **tag_context("aws:ResourceTag", {f"kubernetes.io/cluster/{CLUSTER}": "owned", "karpenter.sh/nodepool": "a"})
    }
    assert evaluate(
        POLICIES, "ec2:CreateTags", instance, {**base, "aws:TagKeys": ["Name", "karpenter.sh/nodeclaim"]}
    ).allowed
    assert not evaluate(POLICIES, "ec2:CreateTags", instance, {**base, "aws:TagKeys": ["Name", "team"]}).allowed
    wrong_cluster = {**base, "aws:TagKeys": ["eks:eks-cluster-name"], "aws:RequestTag/eks:eks-cluster-name": "other"}
    assert not evaluate(POLICIES, "ec2:CreateTags", instance, wrong_cluster).allowed


def test_explicit_deny_wins_and_the_boundary_limits() -> None:
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    deny = {"Statement": [{"Sid": "NoIam", "Effect": "Deny", "NotAction": ["ec2:*"], "Resource": "*"}]}
    decision = evaluate([allow_all, json.dumps(deny)], "iam:ListInstanceProfiles", "*")
    assert (decision.allowed, decision.reason, decision.statement) == (False, "explicit deny", "NoIam")
    assert evaluate([allow_all, deny], "ec2:DescribeImages", "*").allowed
    boundary = [{"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}]
    assert (
        evaluate([allow_all], "iam:GetRole", "*", boundary=boundary).reason
        == "the permissions boundary does not allow it"
    )
    assert evaluate([allow_all], "ec2:DescribeImages", "*", boundary=boundary).allowed


def test_unknown_condition_operators_fail_closed() -> None:
    allow = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
            }
        ]
    }
    decision = evaluate([allow], "iam:ListRoles", "*", {"aws:MultiFactorAuthAge": "10"})
    assert not decision.allowed and "NumericLessThan" in decision.notes[0]
    deny = {
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            }
        ]
    }
    assert (
        evaluate(
            [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, deny], "iam:ListRoles", "*"
        ).reason
        == "explicit deny"
    )


def test_negated_operators_match_a_missing_key_and_bool_compares_text() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sqs:*",
                "Resource": "*",
                "Condition": {
                    "StringNotEquals": {"aws:SourceAccount": "999999999999"},
                    "Bool": {"aws:SecureTransport": True},
                },
            }
        ]
    }
    assert evaluate([policy], "sqs:SendMessage", "*", {"aws:SecureTransport": "true"}).allowed
    assert not evaluate([policy], "sqs:SendMessage", "*", {"aws:SecureTransport": "false"}).allowed
    assert not evaluate(
        [policy], "sqs:SendMessage", "*", {"aws:SecureTransport": "true", "aws:SourceAccount": "999999999999"}
    ).allowed
