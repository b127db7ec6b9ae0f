"""`sandbox start --faults SPEC`: throttles, HTTP 500s and permanent failures, in each
protocol's wire format, so botocore's retries and the tool's error paths can be rehearsed."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries import standard

from provisioner import sandbox
from provisioner.planfile import load_plan
from provisioner.sandbox.faults import FaultSpec, FaultSpecError
from provisioner.steps import network
from tests.conftest import PLANS, REPO
from tests.idempotency import runner, subgraph

DEV = load_plan("dev", PLANS)


def _http(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def faults(aws: str) -> Iterator[Any]:
    """Set the session server's faults for one test (POST /_sandbox/faults); off afterwards."""

    def set_faults(**spec: Any) -> dict[str, Any]:
        status, answer = _http(f"{aws}/_sandbox/faults", spec)
        assert status == 200, answer
        _http(f"{aws}/_sandbox/stats/reset", {})
        return answer

    try:
        yield set_faults
    finally:
        _http(f"{aws}/_sandbox/faults", {})


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard mode waits up to 1, 2, 4 ... s between attempts; keep its schedule
    but shrink it a hundredfold so no test sleeps for seconds."""
    original = standard.ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        standard.ExponentialBackoff, "delay_amount", lambda self, context: original(self, context) / 100
    )


def _client(aws: str, service: str, attempts: int = 1) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=aws,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def _stats(aws: str) -> dict[str, Any]:
    return _http(f"{aws}/_sandbox/stats")[1]


# ------------------------------------------------------------------------------- parsing
def test_parse_fault_spec_round_trips_and_normalises() -> None:
    spec = FaultSpec.parse(" throttle=0.1, error=0.02 ,fail=CreateNatGateway,fail=eks:CreateCluster,seed=7")
    assert (spec.throttle, spec.error, spec.fail, spec.seed) == (
        0.1,
        0.02,
        ("CreateNatGateway", "eks:CreateCluster"),
        7,
    )
    assert str(spec) == "throttle=0.1,error=0.02,fail=CreateNatGateway,fail=eks:CreateCluster,seed=7"
    assert FaultSpec.parse(str(spec)) == spec
    assert str(FaultSpec.parse("")) == str(FaultSpec.parse("none")) == "none"
    assert not FaultSpec.parse("none").active
    assert FaultSpec.from_json({"throttle": 0.5, "fail": "CreateVpc"}) == FaultSpec(throttle=0.5, fail=("CreateVpc",))
    assert FaultSpec.from_json({"spec": "error=1"}) == FaultSpec(error=1.0)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("throttle=1.5", "out of range"),
        ("throttle=-0.1", "out of range"),
        ("error=lots", "not a number"),
        ("throttle=0.7,error=0.4", "more than 1"),
        ("throttle=0.1,throttle=0.2", "given twice"),
        ("slow=0.1", "unknown key 'slow'"),
        ("throttle", "not KEY=VALUE"),
        ("fail=Create Vpc", "not an operation name"),
        ("seed=x", "not an integer"),
    ],
)
def test_parse_fault_spec_rejects_bad_input_saying_what_is_allowed(text: str, problem: str) -> None:
    with pytest.raises(FaultSpecError, match=problem):
        FaultSpec.parse(text)


def test_fail_matches_an_operation_in_any_service_or_in_the_named_one() -> None:
    spec = FaultSpec.parse("fail=CreateVpc,fail=eks:CreateCluster")
    assert spec.fails("ec2", "CreateVpc") and spec.fails("eks", "CreateCluster")
    assert (
        not spec.fails("ecs", "CreateCluster") and not spec.fails("ec2", "CreateSubnet") and not spec.fails("eks", None)
    )


def test_fail_aimed_at_an_account_matches_only_that_account() -> None:
    spec = FaultSpec.parse("fail=rds:CreateDBInstance@123456789012,fail=CreateVpc@aws-staging@example.com")
    assert spec.scoped and str(spec) == "fail=rds:CreateDBInstance@123456789012,fail=CreateVpc@aws-staging@example.com"
    staging = {"aws-staging@example.com", "222222222222"}
    assert spec.fails("ec2", "CreateVpc", lambda scope: scope in staging)
    assert not spec.fails("ec2", "CreateVpc", lambda scope: False)
    assert not spec.fails("ec2", "CreateVpc")  # a caller nobody can place is not the one aimed at
    assert spec.fails("rds", "CreateDBInstance", lambda scope: scope == "123456789012")


# ------------------------------------------------------------- answers in each protocol
@pytest.mark.parametrize(
    "service, call, code, status",
    [
        ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),  # ec2 query protocol
        ("iam", lambda c: c.list_roles(), "Throttling", 400),  # query protocol
        ("rds", lambda c: c.describe_db_instances(), "Throttling", 400),  # query protocol
        ("ecr", lambda c: c.describe_repositories(), "ThrottlingException", 400),  # JSON protocol
        ("eks", lambda c: c.list_clusters(), "ThrottlingException", 429),  # REST-JSON
        ("s3", lambda c: c.list_buckets(), "SlowDown", 503),  # REST-XML
    ],
)
def test_throttle_answers_each_protocols_throttling_error_which_botocore_retries(
    faults: Any, aws: str, service: str, call: Any, code: str, status: int
) -> None:
    faults(throttle=1.0)
    with pytest.raises(ClientError) as raised:
        call(_client(aws, service, attempts=3))
    error = raised.value.response
    assert error["Error"]["Code"] == code and error["ResponseMetadata"]["HTTPStatusCode"] == status
    # botocore classified it as a throttle and retried: three attempts, three faults.
    assert "reached max retries: 2" in str(raised.value)
    assert _stats(aws)["faults"] == {"throttle": 3, "error": 0, "fail": 0}


@pytest.mark.parametrize(
    "service, call, code",
    [
        ("ec2", lambda c: c.describe_vpcs(), "InternalError"),
        ("sts", lambda c: c.get_caller_identity(), "InternalFailure"),
        ("logs", lambda c: c.describe_log_groups(), "InternalFailure"),
        ("eks", lambda c: c.list_clusters(), "InternalFailure"),
    ],
)
def test_error_answers_http_500_which_botocore_retries(
    faults: Any, aws: str, service: str, call: Any, code: str
) -> None:
    faults(error=1.0)
    with pytest.raises(ClientError) as raised:
        call(_client(aws, service, attempts=2))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert _stats(aws)["faults"]["error"] == 2


def test_production_session_retries_throttles_and_500s_through_to_success(
    faults: Any, aws: str, session_for: Any
) -> None:
    faults(throttle=0.3, error=0.1, seed=4)
    session = session_for()
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(
        CidrBlock="10.40.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "faults"}]}],
    )["Vpc"]["VpcId"]
    for _ in range(12):
        assert vpc in [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]]
    injected = _stats(aws)["faults"]
    assert injected["throttle"] > 0 and injected["error"] > 0, injected
    # Every call succeeded although some attempts were faulted: the tool counts calls, the
    # server counts attempts.
    assert session.total_calls() == 13
    assert _stats(aws)["requests"] == 13 + injected["throttle"] + injected["error"]


def test_seeded_faults_repeat_exactly(faults: Any, aws: str) -> None:
    outcomes = []
    for _ in range(2):
        faults(throttle=0.5, seed=11)
        iam = _client(aws, "iam")
        seen = []
        for _ in range(10):
            try:
                iam.list_roles()
                seen.append("ok")
            except ClientError as exc:
                seen.append(exc.response["Error"]["Code"])
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1] and "Throttling" in outcomes[0] and "ok" in outcomes[0]


def test_fail_answers_a_permanent_error_every_time_and_only_for_that_operation(faults: Any, aws: str) -> None:
    faults(fail=["CreateVpc", "eks:CreateCluster"])
    ec2 = _client(aws, "ec2", attempts=3)
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            ec2.create_vpc(CidrBlock="10.41.0.0/16")
        assert raised.value.response["Error"]["Code"] == "SandboxInjectedFailure"
        assert "ec2:CreateVpc" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        _client(aws, "eks").create_cluster(
            name="c", roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": []}
        )
    assert raised.value.response["Error"]["Code"] == "SandboxInjectedFailure"
    ec2.describe_vpcs()  # other operations pass
    assert _stats(aws)["faults"] == {"throttle": 0, "error": 0, "fail": 3}  # not retried


def test_injected_failure_surfaces_as_a_clear_error_of_the_node(faults: Any, session_for: Any) -> None:
    faults(spec="fail=ec2:CreateVpc")
    nodes = subgraph(network.resources(DEV), lambda n: n.key == "network/vpc")
    result = runner(DEV, session_for(), nodes).apply()
    assert result.status == "failed"
    (failure,) = result.failures()
    assert failure.key == "network/vpc" and failure.error_code == "SandboxInjectedFailure"
    assert "CreateVpc" in (failure.error or "")


# ------------------------------------------------------------------------ control paths
def test_control_paths_are_never_faulted_and_stats_count_per_operation(faults: Any, aws: str, moto_server: Any) -> None:
    faults(throttle=1.0)
    moto_server.reset()  # /moto-api/ passes
    status, current = _http(f"{aws}/_sandbox/faults")
    assert status == 200 and current["spec"] == "throttle=1" and current["throttle"] == 1.0
    with pytest.raises(ClientError):
        _client(aws, "sts").get_caller_identity()
    stats = _stats(aws)
    assert stats["requests"] == 1 and stats["operations"] == {"sts:GetCallerIdentity": 1}
    assert _http(f"{aws}/_sandbox/stats/reset", {})[1]["requests"] == 0


def test_post_faults_rejects_a_bad_spec_and_keeps_the_current_one(faults: Any, aws: str) -> None:
    faults(error=0.5)
    status, answer = _http(f"{aws}/_sandbox/faults", {"throttle": 3})
    assert status == 400 and "out of range" in answer["error"]
    status, answer = _http(f"{aws}/_sandbox/faults", {"slow": 1})
    assert status == 400 and "unknown key" in answer["error"]
    assert _http(f"{aws}/_sandbox/faults")[1]["error"] == 0.5


# ------------------------------------------------------------------ manager and command
def test_sandbox_start_refuses_a_bad_spec_before_starting_anything() -> None:
    with pytest.raises(sandbox.SandboxError, match="unknown key 'slow'"):
        sandbox.start(faults="slow=1")
    assert sandbox.status()["running"] is False


def test_sandbox_start_with_faults_reports_them_and_refuses_other_settings(tmp_path: Any) -> None:
    env = {"PROVISIONER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "provisioner", "sandbox"]
    try:
        started = subprocess.run(
            [*command, "start", "--faults", "error=0.02,throttle=0.1", "--output", "json"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        state = json.loads(started.stdout)
        assert state["faults"] == "throttle=0.1,error=0.02"
        status, current = _http(f"{state['aws_endpoint_url']}/_sandbox/faults")
        assert status == 200 and (current["throttle"], current["error"]) == (0.1, 0.02)
        again = subprocess.run(
            [*command, "start", "--faults", "throttle=0.5"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1 and "sandbox stop" in again.stderr
        same = subprocess.run(
            [*command, "start", "--faults", "throttle=0.1,error=0.02"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert same.returncode == 0 and "faults throttle=0.1,error=0.02" in same.stdout
    finally:
        subprocess.run([*command, "stop"], env=env, cwd=REPO, capture_output=True, timeout=60)


def test_bench_script_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--scale" in done.stdout and "--skip-faults" in done.stdout and "--output" in done.stdout


def test_fail_aimed_at_a_member_account_fails_its_calls_and_no_one_elses(faults: Any, aws: str) -> None:
    orgs = _client(aws, "organizations")
    orgs.create_organization(FeatureSet="ALL")
    member = orgs.create_account(Email="aws-staging@example.com", AccountName="Innovate Staging")
    account_id = orgs.describe_create_account_status(CreateAccountRequestId=member["CreateAccountStatus"]["Id"])[
        "CreateAccountStatus"
    ]["AccountId"]
    credentials = _client(aws, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="faults"
    )["Credentials"]
    member_ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=aws,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    for scope in (account_id, "aws-staging@example.com", "innovate staging"):
        faults(fail=[f"ec2:CreateVpc@{scope}"])
        with pytest.raises(ClientError) as raised:
            member_ec2.create_vpc(CidrBlock="10.42.0.0/16")
        assert raised.value.response["Error"]["Code"] == "SandboxInjectedFailure"
        _client(aws, "ec2").create_vpc(CidrBlock="10.43.0.0/16")  # the management account's goes through
        member_ec2.describe_vpcs()
        assert _stats(aws)["faults"]["fail"] == 1
