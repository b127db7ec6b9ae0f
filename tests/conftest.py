"""Test harness shared by every test: no test can reach a real AWS account.

- Fake credentials are set and AWS_PROFILE / AWS_ENDPOINT_URL unset at import, before any
  client exists; `guard_environment` re-asserts it per test.
- `moto_server`: one in-process sandbox server (moto in server mode plus the sandbox's
  fidelity patches) on 127.0.0.1 for the session; `aws` resets it per test, so every test
  starts from an empty account and talks real HTTP through the production session factory.
- `home`: an isolated PROVISIONER_HOME (journals, locks, sandbox state) per test.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

for _name in (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    MOTO_IAM_LOAD_MANAGED_POLICIES="true",
)

REPO = Path(__file__).resolve().parent.parent
PLANS = REPO / "plans"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    from provisioner.sandbox.server import SandboxServer

    server = SandboxServer(port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: Any) -> str:
    """An empty simulated AWS for this test; returns its endpoint URL (127.0.0.1 only)."""
    moto_server.reset()
    assert moto_server.url.startswith("http://127.0.0.1:")
    return moto_server.url


@pytest.fixture(autouse=True)
def guard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture(autouse=True)
def karpenter_crds(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test that installs Karpenter reads its CRDs from a directory: the official files
    in ../shared when present (CI), else a pinned stand-in. No test fetches from the internet."""
    from provisioner.steps.karpenter import crds
    from tests.karpenter_crds import VERSION, stand_in_crds

    official = REPO.parent / "shared" / "karpenter-crds" / f"v{VERSION}"
    if official.is_dir():
        directory = official
    else:
        directory = tmp_path_factory.mktemp("crds")
        monkeypatch.setitem(crds.PINNED, VERSION, stand_in_crds(directory))
    monkeypatch.setenv(crds.ENV_DIR, str(directory))
    return directory


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PROVISIONER_HOME", str(path))
    return path


@pytest.fixture
def session_for(aws: str) -> Any:
    """Build production AwsSessions against the test server."""
    from provisioner.aws import AwsSession

    def make(region: str = "us-east-1", journal: Any = None) -> AwsSession:
        return AwsSession(
            region=region,
            endpoint_url=aws,
            journal=journal,
            credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        )

    return make


# What IAM Identity Center gives an engineer: an assumed role whose role has a path.
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/us-east-1/"
SSO_ROLE_NAME = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"


@pytest.fixture
def sso_session_for(aws: str, boto: Any) -> Any:
    """Like `session_for`, but the tool runs as an IAM Identity Center user would: a session of
    a role under `/aws-reserved/sso.amazonaws.com/us-east-1/`. STS names such a caller
    `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, without the path; the role's real ARN has
    it (`make.role_arn`)."""
    import json

    from provisioner.aws import AwsSession

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{SANDBOX_ACCOUNT}:root"},
                "Action": ["sts:AssumeRoleWithSAML", "sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    role = boto("iam").create_role(
        RoleName=SSO_ROLE_NAME, Path=SSO_ROLE_PATH, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    credentials = boto("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="engineer@example.com")["Credentials"]

    def make(region: str = "us-east-1", journal: Any = None) -> AwsSession:
        return AwsSession(
            region=region,
            endpoint_url=aws,
            journal=journal,
            credentials={
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
        )

    make.role_arn = role["Arn"]  # type: ignore[attr-defined]
    return make


@pytest.fixture
def boto(aws: str) -> Any:
    """Plain boto3 clients against the test server, for arranging and inspecting."""
    import boto3

    def client(service: str, region: str = "us-east-1") -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=aws, aws_access_key_id="testing", aws_secret_access_key="testing"
        )

    return client


@dataclass
class CliResult:
    code: int
    out: str
    err: str


SANDBOX_ACCOUNT = "123456789012"


@pytest.fixture
def single_account_plans(tmp_path: Path) -> Path:
    """The shipped plans, with every environment in the test server's own account (a 12-digit
    `account`), so a test can apply one without building the organization first."""
    import shutil

    directory = tmp_path / "plans"
    shutil.copytree(PLANS, directory)
    for name in ("dev", "staging", "prod"):
        path = directory / f"{name}.yaml"
        text = path.read_text()
        for key in ("development", "staging", "production"):
            text = text.replace(f"account: {key}\n", f'account: "{SANDBOX_ACCOUNT}"\n')
        path.write_text(text)
    return directory


@pytest.fixture
def cli(aws: str, home: Path, monkeypatch: pytest.MonkeyPatch, single_account_plans: Path) -> Any:
    """Run the CLI in-process against the test server (AWS_ENDPOINT_URL, as a user could),
    with the single-account plans unless a test passes --plans-dir."""
    from provisioner.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    monkeypatch.chdir(REPO)

    def run(*args: str) -> CliResult:
        argv = list(args)
        if "--plans-dir" not in argv and argv and argv[0] not in ("sandbox", "eks-token"):
            argv += ["--plans-dir", str(single_account_plans)]
        out, err = io.StringIO(), io.StringIO()
        code = main(argv, out=out, err=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
