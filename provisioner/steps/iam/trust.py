"""Trust documents for roles that an AWS service assumes.

`sts:TagSession` is allowed with `sts:AssumeRole`: EKS Pod Identity tags the sessions it
starts (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html), and EKS and EC2
ignore the extra action.
"""

from __future__ import annotations

from typing import Any


def service_trust(service: str) -> dict[str, Any]:
    """A trust policy letting `service` (`eks.amazonaws.com`, `pods.eks.amazonaws.com`, ...)
    assume the role and tag its session."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
        ],
    }
