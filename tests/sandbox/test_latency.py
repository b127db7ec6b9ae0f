"""`sandbox start --latency SCALE`: slow resources pass through their transitional states."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provisioner.planfile import load_plan
from provisioner.sandbox.server import set_latency
from provisioner.steps import network
from tests.conftest import PLANS, REPO, polling_as_the_cli_would
from tests.idempotency import runner, subgraph

DEV = load_plan("dev", PLANS)


@pytest.fixture
def latency():
    yield set_latency
    set_latency(0.0)


def test_nat_gateway_is_pending_then_available_and_apply_waits(latency, session_for, boto) -> None:
    latency(0.002)  # NAT: 105 s x 0.002 = 0.21 s pending, 60 s x 0.002 = 0.12 s deleting
    nodes = subgraph(network.resources(DEV), lambda n: n.key == "network/nat/a")
    events: list[str] = []
    run = runner(DEV, polling_as_the_cli_would(session_for(), 0.002), nodes)
    run.ctx.reporter = type("R", (), {"event": lambda self, kind, key, message, **data: events.append(message)})()
    assert run.apply().status == "ok"
    assert any("NAT gateway" in e and "pending" in e for e in events), events
    (nat,) = boto("ec2").describe_nat_gateways(Filters=[{"Name": "tag:provisioner:key", "Values": ["network/nat/a"]}])[
        "NatGateways"
    ]
    assert nat["State"] == "available"

    destroy = runner(DEV, polling_as_the_cli_would(session_for(), 0.002), nodes)
    assert destroy.destroy().status == "ok"
    assert (
        boto("ec2").describe_nat_gateways(Filters=[{"Name": "tag:provisioner:key", "Values": ["network/nat/a"]}])[
            "NatGateways"
        ]
        == []
    )


def test_sandbox_start_with_latency_reports_it(tmp_path) -> None:
    env = {"PROVISIONER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "provisioner", "sandbox"]
    try:
        started = subprocess.run(
            [*command, "start", "--latency", "0.02", "--output", "json"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["latency"] == 0.02
        again = subprocess.run(
            [*command, "start", "--latency", "0.5"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 1 and "sandbox stop" in again.stderr
    finally:
        subprocess.run([*command, "stop"], env=env, cwd=REPO, capture_output=True, timeout=60)
