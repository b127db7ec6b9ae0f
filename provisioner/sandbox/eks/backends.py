"""moto's backends that the EKS extension reads and amends, per account and region."""

from __future__ import annotations

from typing import Any


def partition_of(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


def eks_backend(account: str, region: str) -> Any:
    from moto.eks.models import eks_backends

    return eks_backends[account][region]


def ec2_backend(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def iam_backend(account: str, region: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account][partition_of(region)]
