"""DescribeLogGroups honours `logGroupIdentifiers` as CloudWatch Logs does (moto ignored it and
listed every group): discovery reads the plan's log groups by name with it (issue #17)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def test_describe_log_groups_returns_only_the_named_groups(boto) -> None:
    logs = boto("logs")
    for name in ("/provisioner/dev/a", "/provisioner/dev/b", "/aws/eks/dev-eks/cluster"):
        logs.create_log_group(logGroupName=name)

    answer = logs.describe_log_groups(
        logGroupIdentifiers=["/provisioner/dev/a", "/aws/eks/dev-eks/cluster", "/provisioner/dev/missing"]
    )
    assert [g["logGroupName"] for g in answer["logGroups"]] == ["/aws/eks/dev-eks/cluster", "/provisioner/dev/a"]


def test_describe_log_groups_refuses_identifiers_with_a_prefix_or_more_than_50(boto) -> None:
    logs = boto("logs")
    with pytest.raises(ClientError, match="InvalidParameterException"):
        logs.describe_log_groups(logGroupIdentifiers=["/a"], logGroupNamePrefix="/a")
    with pytest.raises(ClientError, match="InvalidParameterException"):
        logs.describe_log_groups(logGroupIdentifiers=[f"/g/{i}" for i in range(51)])
