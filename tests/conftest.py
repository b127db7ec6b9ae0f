"""Test harness shared by every test: no test can reach a real AWS account.

- Fake credentials are set and AWS_PROFILE / AWS_ENDPOINT_URL unset at import, before any
  client exists; `guard_environment` re-asserts it per test.
- `moto_server`: one in-process sandbox server (moto in server mode plus the sandbox's
  fidelity patches) on 127.0.0.1 for the session; `aws` resets it per test, so every test
  starts from an empty account and talks real HTTP through the production session factory.
  Tests marked `shares_state` are the exception: see `once`.
- `prepared`: a state many tests start from (the organization applied, dev applied) is built
  once per process and restored from a snapshot of the sandbox afterwards.
- `home`: an isolated PROVISIONER_HOME (journals, locks, sandbox state) per test.
"""

from __future__ import annotations

import copy
import functools
import gc
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


# ------------------------------------------------------------------ state shared in a module
# Most of the slowest tests' time was setup: the organization plan (five accounts) applied to
# an empty sandbox again for every test that only reads it. A test marked
# `@pytest.mark.shares_state` (or `shares_state("group")`) shares the sandbox with the other
# tests of the same group in its module: the sandbox is reset before the first of them, not
# before the others, and the fixtures they build through `once` are built once. Mark only a
# test that leaves the state as the group's next test expects it (it reads, or it applies what
# is already converged), or a group whose tests each undo what they did (`four-phases`: each
# destroys what it applied). Any other test resets the sandbox as before; the next sharing test
# then starts again from an empty sandbox, so the order of tests never decides whether they
# pass. `pytest_collection_modifyitems` runs each group first in its module, together, so
# its state is built once per module (per xdist worker that runs some of it).
SHARES_STATE = "shares_state"


@dataclass
class _Shared:
    owner: tuple[str, str] | None = None  # (module, group) whose state the sandbox holds
    values: dict[str, Any] | None = None


_SHARED = _Shared()


def sharing_group(item: pytest.Item) -> tuple[str, str] | None:
    mark = item.get_closest_marker(SHARES_STATE)
    if mark is None:
        return None
    return (item.nodeid.split("::", 1)[0], mark.args[0] if mark.args else "read-only")


# The suite's heap is large and long-lived (botocore's models, moto's backends, the sandbox
# snapshots of `prepared`). With CPython's default thresholds (700, 10, 10) the cyclic garbage
# collector was 11% of the tests' CPU, mostly full collections traversing all of it; with
# these, 5%, for ~8% more peak memory per worker (measured on test_eks, test_day_two,
# test_organization and test_account_baseline).
GC_THRESHOLDS = (7000, 20, 20)


def pytest_configure(config: pytest.Config) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    config.addinivalue_line(
        "markers", f"{STARTS_FIRST}: a module whose tests mostly wait; collected first (see tests/conftest.py)"
    )
    config.addinivalue_line(
        "markers",
        f"{SHARES_STATE}(group='read-only'): shares the sandbox and the `once` fixtures with the other tests "
        "of the group in its module (see tests/conftest.py)",
    )


# Modules whose tests mostly wait (CLI subprocesses against a latency-scaled sandbox, 15-35 s
# each) run first: started early they overlap with the tests that compute; left to the end
# of a worker's queue, one of them would run alone while the other workers sit idle.
STARTS_FIRST = "starts_first"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked `starts_first` first; each module's sharing tests first, group by
    group, otherwise in their order."""
    modules: dict[str, int] = {}
    groups: dict[tuple[str, str], int] = {}

    def key(pair: tuple[int, pytest.Item]) -> tuple[bool, int, float, int]:
        index, item = pair
        module = modules.setdefault(item.nodeid.split("::", 1)[0], len(modules))
        group = sharing_group(item)
        return (
            item.get_closest_marker(STARTS_FIRST) is None,
            module,
            float("inf") if group is None else groups.setdefault(group, len(groups)),
            index,
        )

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


@pytest.fixture
def aws(moto_server: Any, request: pytest.FixtureRequest) -> str:
    """An empty simulated AWS for this test (or the state its `shares_state` group holds);
    returns its endpoint URL (127.0.0.1 only)."""
    group = sharing_group(request.node)
    if group is None or _SHARED.owner != group:
        moto_server.reset()
        _SHARED.owner, _SHARED.values = group, {}
        _HOLDS.chain, _HOLDS.served = (), moto_server.app.served
    assert moto_server.url.startswith("http://127.0.0.1:")
    return moto_server.url


@pytest.fixture
def once(aws: str, request: pytest.FixtureRequest) -> Any:
    """`once(name, build)`: `build()`; in a `shares_state` test, the value the group's first
    test built under that name (the sandbox is the same one: see `aws`)."""
    shared = sharing_group(request.node) is not None

    def get(name: str, build: Any) -> Any:
        if not shared:
            return build()
        assert _SHARED.values is not None
        if name not in _SHARED.values:
            _SHARED.values[name] = build()
        return _SHARED.values[name]

    return get


# ------------------------------------------------------------------ state restored from a snapshot
# Many tests start from the same applied plan: the organization (~300 calls, ~2 s of CPU),
# dev with its EKS cluster. `prepared(name, build)` builds such a state once per process and
# snapshots the sandbox (provisioner/sandbox/snapshot.py); a later test that asks for it
# gets a fresh copy of that state in milliseconds, to change as it likes.
#
# A restore is right only if the sandbox holds exactly what the snapshot was built on: it is
# empty (the test's reset), or it holds prepared states and no AWS call came in since
# (`SandboxMiddleware.served`). So states stack (`sso_session_for`'s role, then dev applied
# by it), keyed by the chain of names they were built in. A test that has made something
# itself before asking builds as before, with no snapshot.
_SNAPSHOTS: dict[tuple[str, ...], tuple[Any, Any]] = {}  # chain of names -> (snapshot, build's value)


@dataclass
class _Holds:
    chain: tuple[str, ...] = ()  # the prepared states the sandbox holds, in the order built
    served: int = -1  # `served` when it held exactly them; another count: it may hold more


_HOLDS = _Holds()


@pytest.fixture
def prepared(moto_server: Any, once: Any) -> Any:
    """`prepared(name, build)`: the sandbox as `build()` leaves it, and build's value (a copy:
    plain data such as account ids). In a `shares_state` group, as `once`."""
    from provisioner.sandbox import snapshot

    def restored_or_built(name: str, build: Any) -> Any:
        holds = _HOLDS.chain if moto_server.app.served == _HOLDS.served else None
        if holds is None or _latency_scaled():
            return build()  # on top of what the test made, or with pending transitions to keep
        # One name, one build: two modules' "dev applied" by different sessions differ.
        key = (*holds, f"{name} ({build.__module__}.{build.__qualname__})")
        if key in _SNAPSHOTS:
            state, value = _SNAPSHOTS[key]
            if holds:
                moto_server.reset()  # the snapshot holds them too, built the same way
            try:
                snapshot.restore(state)
                value = copy.deepcopy(value)
            except snapshot.ClusterPortTaken:  # another server took the port meanwhile: build
                moto_server.reset()
                if holds:
                    snapshot.restore(_SNAPSHOTS[holds][0])
                value = build()
        else:
            value = build()
            _SNAPSHOTS[key] = (snapshot.take(), copy.deepcopy(value))
        _HOLDS.chain, _HOLDS.served = key, moto_server.app.served
        return value

    return lambda name, build: once(name, lambda: restored_or_built(name, build))


def _latency_scaled() -> bool:
    """A latency-scaled sandbox: what a build leaves is still in transition (creating,
    pending), which a restore later would not show."""
    import importlib

    from provisioner.sandbox.server import LATENCY_MODULES

    return any(getattr(importlib.import_module(name), "LATENCY_SCALE", 0) for name in LATENCY_MODULES)


@pytest.fixture
def organization_applied(session_for: Any, boto: Any, prepared: Any) -> dict[str, str]:
    """The shipped organization plan applied by the engine (through `prepared`: once per
    process, restored afterwards); its account ids by account key (`shared-services`, ...)."""
    from provisioner.engine import RunContext, Runner
    from provisioner.planfile import load_plan
    from provisioner.steps import organization

    def build() -> dict[str, str]:
        plan = load_plan("organization", PLANS)
        result = Runner(RunContext(plan=plan, aws=session_for()), organization.resources(plan)).apply()
        assert result.status == "ok", result.failures()
        by_email = {a["Email"]: a["Id"] for a in boto("organizations").list_accounts()["Accounts"]}
        return {key: by_email[account.email] for key, account in plan.spec.accounts.items()}

    return dict(prepared("organization applied", build))


@pytest.fixture
def dev_applied(cli: Any, prepared: Any) -> None:
    """`apply dev` with the CLI (single-account plans), before the test (through `prepared`:
    once per process, then restored). A restore brings back what AWS holds, not the run's
    journal under the test's PROVISIONER_HOME."""

    def apply_dev() -> None:
        applied = cli("apply", "dev", "--yes")
        assert applied.code == 0, applied.err[-3000:]

    prepared("dev applied by the CLI", apply_dev)


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


def polling_as_the_cli_would(session: Any, latency: float) -> Any:
    """`session`, polling as `--sandbox` sessions poll a sandbox with this latency scale (a
    session of its own polls at real AWS's pace: seconds between reads)."""
    from provisioner import sandbox

    session.poll_scale = sandbox.poll_scale({"latency": latency})
    return session


# What IAM Identity Center gives an engineer: an assumed role whose role has a path.
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/us-east-1/"
SSO_ROLE_NAME = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"


@pytest.fixture
def sso_session_for(aws: str, boto: Any, prepared: Any) -> Any:
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

    def build() -> tuple[str, dict[str, str]]:
        role = boto("iam").create_role(
            RoleName=SSO_ROLE_NAME, Path=SSO_ROLE_PATH, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]
        credentials = boto("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="engineer@example.com")
        return role["Arn"], {k: v for k, v in credentials["Credentials"].items() if k != "Expiration"}

    role_arn, credentials = prepared("an IAM Identity Center role's session", build)

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

    make.role_arn = role_arn  # type: ignore[attr-defined]
    return make


@functools.cache
def _plain_boto3_session() -> Any:
    import boto3
    import botocore.session

    from provisioner.aws.botocore_reuse import shared_loader

    core = botocore.session.Session()
    core.register_component("data_loader", shared_loader())
    return boto3.session.Session(botocore_session=core)


@pytest.fixture
def boto(aws: str) -> Any:
    """Plain boto3 clients against the test server, for arranging and inspecting (from one
    boto3 session reading the process's one botocore loader: the models are parsed once)."""
    session = _plain_boto3_session()

    def client(service: str, region: str = "us-east-1") -> Any:
        return session.client(
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
