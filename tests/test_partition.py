"""ARNs take the session's partition (issue 13 item 10): no `arn:aws:` literal in the tool.

AWS-owned ARNs (managed policies, EKS access policies) are built from the partition too
(`AWS_MANAGED_POLICY`, `access_policy_arn`); the sandbox (a simulator of the `aws` partition)
and the tests are exempt.
"""

from __future__ import annotations

import re

from tests.conftest import REPO

LITERAL = re.compile(r"arn:aws:")
ELSEWHERE: set[str] = set()


def test_no_hard_coded_aws_partition_outside_the_sandbox() -> None:
    found = []
    for path in sorted((REPO / "provisioner").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith("provisioner/sandbox/") or relative in ELSEWHERE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if LITERAL.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "ARNs must use the session's partition:\n" + "\n".join(found)


def test_flow_logs_role_trust_carries_the_confused_deputy_conditions() -> None:
    from provisioner.engine import Refs
    from provisioner.planfile import load_plan
    from provisioner.steps import network
    from tests.conftest import PLANS

    plan = load_plan("dev", PLANS)
    (role,) = [n for n in network.resources(plan) if n.key == "network/flow-logs/role"]
    refs = Refs()
    refs.set("@plan", "plan", {"partition": "aws-us-gov", "region": "us-gov-west-1", "account_id": "123456789012"})
    refs.set(
        "network/flow-logs/log-group",
        "logs:log-group",
        {"arn": "arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:x", "name": "x"},
    )
    refs.set(
        "iam/boundary",
        "iam:policy",
        {
            "id": "arn:aws-us-gov:iam::123456789012:policy/provisioner/b",
            "arn": "arn:aws-us-gov:iam::123456789012:policy/provisioner/b",
        },
    )
    (statement,) = role.desired(refs)["trust"]["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:vpc-flow-log/*"},
    }
