"""The sandbox manager: a background server that keeps state across commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

import provisioner.sandbox as sandbox


@pytest.fixture
def managed(sandbox_env: Path) -> Iterator[None]:
    """Whatever a test starts in its home is stopped, even when the test fails."""
    yield
    sandbox.stop()


def _ec2(url: str):
    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=sandbox.SANDBOX_ACCESS_KEY_ID,
        aws_secret_access_key=sandbox.SANDBOX_SECRET_ACCESS_KEY,
    )


def test_importing_the_manager_does_not_import_moto() -> None:
    code = (
        "import sys, provisioner.sandbox\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('moto', 'flask', 'werkzeug')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lifecycle(managed: None, sandbox_env: Path) -> None:
    assert sandbox.status()["running"] is False

    started = sandbox.start()
    assert started["running"] is True
    url = started["aws_endpoint_url"]
    assert url.startswith("http://127.0.0.1:")
    assert sandbox.status() == started
    assert sandbox.ensure_running() == url
    state = json.loads((sandbox_env / "sandbox" / "sandbox.json").read_text())
    assert state["pid"] == started["pid"] and state["aws_endpoint_url"] == url

    # State lives in the server, not in a client: a second client sees the first's VPC.
    vpc_id = _ec2(url).create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    assert vpc_id in {v["VpcId"] for v in _ec2(url).describe_vpcs()["Vpcs"]}

    assert sandbox.start()["pid"] == started["pid"]  # reused, not restarted

    sandbox.reset()
    assert vpc_id not in {v["VpcId"] for v in _ec2(url).describe_vpcs()["Vpcs"]}

    assert sandbox.stop() is True
    assert sandbox.status()["running"] is False
    assert not (sandbox_env / "sandbox" / "sandbox.json").exists()
    assert sandbox.stop() is False


def test_concurrent_starts_share_one_server(managed: None) -> None:
    code = "import provisioner.sandbox as s; print(s.start()['pid'])"
    starters = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pids = {p.communicate(timeout=120)[0].strip() for p in starters}
    assert all(p.returncode == 0 for p in starters)
    assert pids == {str(sandbox.status()["pid"])}
    assert sandbox.status()["running"] is True


def test_stale_state_file_is_not_running_and_removed(sandbox_env: Path) -> None:
    state_file = sandbox_env / "sandbox" / "sandbox.json"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"pid": 999999, "aws_endpoint_url": "http://127.0.0.1:9", "port": 9}))

    assert sandbox.status() == {
        "running": False,
        "aws_endpoint_url": None,
        "pid": None,
        "started_at": None,
    }
    assert not state_file.exists()


def test_reset_when_not_running_raises() -> None:
    with pytest.raises(sandbox.SandboxError):
        sandbox.reset()


def test_server_that_dies_at_start_is_reported_with_its_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('boom: cannot serve')"]
    monkeypatch.setattr(sandbox, "_server_command", lambda state_file, *settings: failing)

    with pytest.raises(sandbox.SandboxError, match="boom: cannot serve"):
        sandbox.start(wait_seconds=30)
    assert sandbox.status()["running"] is False
