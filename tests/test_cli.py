"""The CLI as a user drives it: exit codes, JSON output, confirmation, protection, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.starts_first  # its CLI runs mostly wait (tests/conftest.py)


def test_apply_dev_then_plan_is_noop_with_detailed_exitcode(cli) -> None:
    first = cli("plan", "dev", "--output", "json", "--detailed-exitcode")
    assert first.code == 2, first.err
    document = json.loads(first.out)
    assert document["plan"] == "dev"
    assert document["summary"]["create"] == len(document["changes"]) - document["summary"]["noop"] > 15
    assert document["summary"]["noop"] == 1  # eks/addon-versions, a read-only lookup
    vpc = next(c for c in document["changes"] if c["key"] == "network/vpc")
    assert vpc == {"key": "network/vpc", "type": "ec2:vpc", "action": "create", "diff": {}}
    # The critical path of latency-model.md: key -> role -> cluster -> vpc-cni -> nodes -> coredns -> Karpenter.
    assert 780 <= document["estimate"]["seconds"] <= 840
    assert document["estimate"]["critical_path"][:3] == ["eks/kms-key", "eks/cluster-role", "eks/cluster"]

    applied = cli("apply", "dev", "--yes", "--output", "json")
    assert applied.code == 0, applied.err
    report = json.loads(applied.out)
    assert report["status"] == "ok" and report["operation"] == "apply"
    assert len(report["changes"]) == document["summary"]["create"]
    assert all({"key", "started", "ended", "status"} <= set(step) for step in report["steps"])

    again = cli("plan", "dev", "--output", "json", "--detailed-exitcode")
    assert again.code == 0
    plan = json.loads(again.out)
    assert {c["action"] for c in plan["changes"]} == {"noop"}
    assert plan["summary"]["noop"] == len(plan["changes"])


def test_plan_text_says_would_and_apply_text_says_done(cli) -> None:
    planned = cli("plan", "dev")
    assert planned.code == 0
    assert "+ network/vpc  ec2:vpc  would create" in planned.out
    assert "Estimated apply time" in planned.out and "critical path" in planned.out
    applied = cli("apply", "dev", "--yes")
    assert applied.code == 0
    assert "Apply ok" in applied.out
    assert "network/vpc created" in applied.err  # progress goes to stderr


def test_apply_without_yes_and_without_terminal_refuses_and_changes_nothing(cli, boto) -> None:
    result = cli("apply", "dev")
    assert result.code == 1
    assert "--yes" in result.err and "Traceback" not in result.err
    assert [v for v in boto("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == []


def test_destroy_prod_refuses_without_allow_protected(cli) -> None:
    result = cli("destroy", "prod", "--yes")
    assert result.code == 1
    assert "protected" in result.err and "--allow-protected" in result.err


def test_destroy_prod_refuses_when_the_name_is_not_typed_back(cli) -> None:
    result = cli("destroy", "prod", "--yes", "--allow-protected", "--confirm", "dev")
    assert result.code == 1 and "typed back" in result.err


def test_destroy_dev_removes_everything_tagged_for_dev(cli, boto) -> None:
    assert cli("apply", "dev", "--yes").code == 0
    handmade = boto("ec2").create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    result = cli("destroy", "dev", "--yes", "--output", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["status"] == "ok"
    tagged = boto("resourcegroupstaggingapi").get_resources(TagFilters=[{"Key": "provisioner:plan", "Values": ["dev"]}])
    assert tagged["ResourceTagMappingList"] == []
    assert handmade in {v["VpcId"] for v in boto("ec2").describe_vpcs()["Vpcs"]}
    assert cli("destroy", "dev", "--yes").code == 0  # a second destroy does nothing, successfully


def test_plan_destroy_lists_what_destroy_would_delete(cli) -> None:
    assert cli("apply", "dev", "--yes").code == 0
    result = cli("plan", "dev", "--destroy", "--output", "json")
    document = json.loads(result.out)
    deleted = {c["key"] for c in document["changes"] if c["action"] == "delete"}
    assert {"network/vpc", "eks/cluster", "rds/instance", "karpenter/interruption-queue"} <= deleted
    assert {c["key"] for c in document["changes"] if c["action"] != "delete"} == {
        "eks/addon-versions",  # a read-only lookup
        "karpenter/spot-service-linked-role",  # the account's, never deleted
        "iam/boundary",  # the account's permissions boundary, kept too
    }


def test_run_writes_a_journal_and_releases_the_lock(cli, home) -> None:
    assert cli("apply", "dev", "--yes").code == 0
    (journal,) = (home / "runs" / "dev").glob("*-apply.jsonl")
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert events[0]["event"] == "run-start" and events[-1] == {**events[-1], "event": "run-end", "status": "ok"}
    assert any(e["event"] == "api-call" and e["operation"] == "CreateNatGateway" for e in events)
    assert cli("apply", "dev", "--yes").code == 0  # the lock was released


def test_apply_refuses_while_another_run_holds_the_lock(cli, home) -> None:
    from provisioner.engine.lock import LocalLock

    (home / "locks").mkdir(exist_ok=True)
    with LocalLock(home / "locks", "dev", "apply"):
        result = cli("apply", "dev", "--yes")
    assert result.code == 1
    assert "locked by another run" in result.err and f"pid {os.getpid()}" in result.err


def test_invalid_plan_exits_1_without_traceback_or_aws_call(cli, tmp_path, moto_server) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: environment\nnetwork: {cidr: 10.0.0.0/33}\n")
    before = json.loads(_get(moto_server.url + "/_sandbox/stats"))["requests"]
    result = cli("apply", str(bad), "--yes")
    assert result.code == 1
    assert "bad.yaml" in result.err and "network.cidr" in result.err and "Traceback" not in result.err
    assert "Nothing was sent to AWS" in result.err
    assert json.loads(_get(moto_server.url + "/_sandbox/stats"))["requests"] == before


def test_aws_error_is_reported_with_code_and_node_not_traceback(cli, boto) -> None:
    boto("iam").create_role(RoleName="dev-vpc-flow-logs", AssumeRolePolicyDocument="{}")
    result = cli("apply", "dev", "--yes")
    assert result.code == 1
    assert "network/flow-logs/role" in result.out and "EntityAlreadyExists" in result.out
    assert "Traceback" not in result.err + result.out


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


# ---------------------------------------------------------------- as a new user: --sandbox
@pytest.fixture(scope="module")
def user_env(tmp_path_factory):
    """A shell-like environment: its own PROVISIONER_HOME, no AWS configuration at all."""
    home = tmp_path_factory.mktemp("user-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROVISIONER_"))}
    env.update(PROVISIONER_HOME=str(home), AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    # A user's run fetches Karpenter's CRDs; this machine has no internet, so the journey
    # reads the official files from ../shared (present in CI) like any offline user would.
    official = REPO.parent / "shared" / "karpenter-crds"
    if official.is_dir():
        env["PROVISIONER_KARPENTER_CRDS_DIR"] = str(official)
    env["OFFICIAL_CRDS"] = "1" if official.is_dir() else ""
    yield env
    subprocess.run(
        [sys.executable, "-m", "provisioner", "sandbox", "stop"], env=env, cwd=REPO, capture_output=True, timeout=60
    )


def provisioner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_sandbox_user_journey_apply_replan_destroy(user_env) -> None:
    if not user_env["OFFICIAL_CRDS"]:
        pytest.skip("Karpenter's official CRDs are neither fetchable (no internet) nor in ../shared here")
    # The README's quick start: the organization and its accounts, shared services, then dev.
    applied = provisioner(user_env, "apply", "organization", "shared", "dev", "--sandbox", "--yes")
    assert applied.returncode == 0, applied.stderr[-3000:]
    status = json.loads(provisioner(user_env, "sandbox", "status", "--output", "json").stdout)
    assert status["running"] is True and status["aws_endpoint_url"].startswith("http://127.0.0.1:")
    # dev lives in the Development account, not the management account.
    assert "Plan dev (environment): account 123456789012" not in applied.stdout
    assert "Plan organization (organization): account 123456789012" in applied.stdout

    again = provisioner(user_env, "apply", "dev", "--sandbox", "--yes")
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    plan = provisioner(user_env, "plan", "dev", "--sandbox", "--output", "json", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stderr
    assert {c["action"] for c in json.loads(plan.stdout)["changes"]} == {"noop"}

    refused = provisioner(user_env, "destroy", "prod", "--sandbox", "--yes")
    assert refused.returncode == 1 and "protected" in refused.stderr

    destroyed = provisioner(user_env, "destroy", "dev", "--sandbox", "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    plan = provisioner(user_env, "plan", "dev", "--sandbox", "--output", "json")
    actions = {c["key"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
    # lookups (add-on versions, the shared plan's Transit Gateway); the account's role and boundary
    kept = {"eks/addon-versions", "karpenter/spot-service-linked-role", "iam/boundary", "network/transit/gateway"}
    assert {a for k, a in actions.items() if k not in kept} == {"create"}


def test_console_script_and_module_are_the_same(user_env) -> None:
    script = Path(sys.executable).with_name("provisioner")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    by_script = subprocess.run(
        [str(script), "validate", "dev"], env=user_env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    by_module = provisioner(user_env, "validate", "dev")
    assert by_script.returncode == by_module.returncode == 0
    assert by_script.stdout == by_module.stdout
