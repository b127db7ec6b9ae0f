"""A sandbox EKS cluster's Kubernetes API for the kube/ tests: the emulator, an EKS token
presigned by the production AwsSession against moto, and a client built from both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.aws.eks_token import eks_token
from provisioner.kube.client import api_client
from provisioner.sandbox import kube_emulator

ACCOUNT, REGION, CLUSTER = "123456789012", "us-east-1", "dev-eks"


@pytest.fixture
def endpoint(aws: str) -> Iterator[tuple[str, str]]:
    # After `aws`: resetting the simulated AWS stops every cluster's emulator.
    try:
        yield kube_emulator.endpoint_for(ACCOUNT, REGION, CLUSTER)
    finally:
        kube_emulator.reset()


@pytest.fixture
def api(endpoint: tuple[str, str], session_for: Any) -> Iterator[Any]:
    client = api_client(endpoint[0], endpoint[1], eks_token(session_for(REGION), CLUSTER))
    try:
        yield client
    finally:
        client.close()
