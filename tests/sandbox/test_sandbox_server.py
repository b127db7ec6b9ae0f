"""The in-process SandboxServer: moto behind the sandbox middleware."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from provisioner.sandbox.faults import FaultSpec
from provisioner.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as srv:
        yield srv


@pytest.fixture
def fresh(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def _get_json(url: str, method: str = "GET") -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, method=method), timeout=5) as response:
        return json.loads(response.read())


def test_url_is_loopback_with_a_real_port(server: SandboxServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port > 0


def test_reset_forgets_resources(fresh: SandboxServer) -> None:
    ec2 = boto3.client("ec2", endpoint_url=fresh.url, region_name="us-east-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    assert vpc_id in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}

    fresh.reset()

    assert vpc_id not in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}


def test_aws_managed_policies_exist(fresh: SandboxServer) -> None:
    iam = boto3.client("iam", endpoint_url=fresh.url, region_name="us-east-1")
    arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn


def test_stats_count_aws_calls_only(fresh: SandboxServer) -> None:
    assert _get_json(f"{fresh.url}/_sandbox/stats/reset", method="POST")["requests"] == 0
    sts = boto3.client("sts", endpoint_url=fresh.url, region_name="us-east-1")
    for _ in range(3):
        sts.get_caller_identity()
    fresh.reset()  # a /moto-api/ call: not counted
    _get_json(f"{fresh.url}/_sandbox/stats")  # nor are stats reads

    assert _get_json(f"{fresh.url}/_sandbox/stats")["requests"] == 3
    assert fresh.app is not None and fresh.app.requests == 3


def test_warm_up_reads_are_neither_counted_nor_faulted_nor_in_anyones_account(fresh: SandboxServer) -> None:
    from provisioner.sandbox import warmup

    _get_json(f"{fresh.url}/_sandbox/stats/reset", method="POST")
    assert fresh.app is not None
    fresh.app.set_faults(FaultSpec.parse("error=1.0"))  # every counted call would fail
    try:
        warmup._warm(fresh.url, "us-east-1")
    finally:
        fresh.app.set_faults(FaultSpec())
    stats = _get_json(f"{fresh.url}/_sandbox/stats")
    assert stats["requests"] == 0 and stats["faults"]["error"] == 0
    # The reads ran as moto's account of the warm-up: it has the default VPC they made.
    from moto.ec2.models import ec2_backends

    assert ec2_backends[warmup.WARMUP_ACCOUNT]["us-east-1"].vpcs


def test_stop_closes_the_socket() -> None:
    srv = SandboxServer(port=0)
    srv.start()
    url = srv.url
    assert _get_json(f"{url}/_sandbox/stats")["requests"] == 0
    srv.stop()
    with pytest.raises(OSError):
        _get_json(f"{url}/_sandbox/stats")
