"""Team locking, `unlock` and `history` as a user drives them (issue #9, items 3 and 4).

A plan naming `lock.dynamodb_table` takes a DynamoDB lease lock besides the local one; runs
"on another machine" are a DynamoDbLock held by the test or a subprocess with its own
PROVISIONER_HOME (so the local locks do not meet).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioner.aws.dynamodb_lock import DynamoDbLock, lock_id
from provisioner.engine.journal import Journal
from provisioner.engine.lock import LocalLock
from tests.conftest import REPO

TABLE = "provisioner-locks"


@pytest.fixture
def locked_plans(single_account_plans: Path) -> Path:
    """The single-account plans, dev naming a DynamoDB lock table (the `cli` fixture's dir)."""
    path = single_account_plans / "dev.yaml"
    path.write_text(path.read_text() + f"\nlock:\n  dynamodb_table: {TABLE}\n  lease_seconds: 600\n")
    return single_account_plans


@pytest.fixture
def other_machine(session_for: Any) -> Any:
    """Locks held by 'another machine'; their heartbeats stop at the end of the test."""
    held: list[DynamoDbLock] = []

    def take(operation: str = "apply") -> DynamoDbLock:
        lock = DynamoDbLock(session_for(), TABLE, "dev", operation)
        lock.acquire()
        held.append(lock)
        return lock

    yield take
    for lock in held:
        lock._stop.set()


def lock_item(boto: Any) -> dict[str, Any] | None:
    return (
        boto("dynamodb")
        .get_item(TableName=TABLE, Key={"LockID": {"S": lock_id("dev")}}, ConsistentRead=True)
        .get("Item")
    )


def own_vpcs(boto: Any) -> list[str]:
    return [v["VpcId"] for v in boto("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")]


class Terminal(io.StringIO):
    """A stdin that is a terminal, with what the user types."""

    def isatty(self) -> bool:
        return True


# ------------------------------------------------------------------------------- locking
def test_validate_accepts_plan_naming_a_dynamodb_table(cli, locked_plans) -> None:
    result = cli("validate", "dev")
    assert result.code == 0, result.err


def test_apply_refuses_while_another_machine_holds_the_dynamodb_lock(
    cli, locked_plans, other_machine, boto, home
) -> None:
    holder = other_machine("destroy")
    result = cli("apply", "dev", "--yes")
    assert result.code == 1
    assert f"plan dev is locked in DynamoDB table {TABLE} by arn:aws:" in result.err
    assert "(destroy from " in result.err and "lease until" in result.err
    assert "provisioner unlock dev" in result.err and "Traceback" not in result.err
    assert own_vpcs(boto) == []  # refused before any change
    assert not (home / "runs" / "dev").exists()  # and before its journal
    assert lock_item(boto)["token"]["S"] == holder.token  # the holder's lock is untouched
    # The local lock was given back: only the team lock refused.
    assert LocalLock.status(home / "locks", "dev") == (False, {})


def test_apply_takes_and_releases_the_dynamodb_lock(cli, locked_plans, boto, monkeypatch) -> None:
    seen: list[dict[str, Any] | None] = []
    from provisioner.engine import runner

    original = runner.Runner.apply

    def apply(self: Any) -> Any:
        seen.append(lock_item(boto))  # while the run works, it holds the lock
        return original(self)

    monkeypatch.setattr(runner.Runner, "apply", apply)
    result = cli("apply", "dev", "--yes")
    assert result.code == 0, result.err
    assert seen[0] is not None and seen[0]["operation"]["S"] == "apply"
    assert "creating DynamoDB lock table" in result.err
    assert lock_item(boto) is None


def test_plan_takes_no_lock(cli, locked_plans, other_machine) -> None:
    other_machine("apply")
    result = cli("plan", "dev", "--output", "json")
    assert result.code == 0, result.err


def test_ctrl_c_during_apply_releases_both_locks_and_exits_130(cli, locked_plans, boto, home, monkeypatch) -> None:
    from provisioner.engine import runner

    def interrupted(self: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.Runner, "apply", interrupted)
    result = cli("apply", "dev", "--yes")
    assert result.code == 130
    assert lock_item(boto) is None
    assert LocalLock.status(home / "locks", "dev")[0] is False


@pytest.mark.skipif(
    not (REPO.parent / "shared" / "karpenter-crds").is_dir(),
    reason="a subprocess cannot use the in-process stand-in CRDs",
)
def test_two_applies_started_together_one_runs_the_other_refuses(aws, locked_plans, boto, cli, tmp_path) -> None:
    # moto's CreateTable is not atomic under concurrent creates (DynamoDB's is): the table
    # exists beforehand, as it does after a team's first run.
    boto("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
    )
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    procs = []
    for home in homes:  # two machines: separate homes, so only the DynamoDB lock can stop them
        env = {**os.environ, "AWS_ENDPOINT_URL": aws, "PROVISIONER_HOME": str(home)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "provisioner", "apply", "dev", "--yes", "--plans-dir", str(locked_plans)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(proc.wait(timeout=240), *proc.communicate()) for proc in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err[-2000:] for _, _, err in results]
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser_err = results[1 - winner][2]
    assert f"is locked in DynamoDB table {TABLE} by arn:aws:" in loser_err and "provisioner unlock dev" in loser_err
    # Nothing corrupted: one journal, a complete run; AWS matches the plan; the lock is free.
    assert not (homes[1 - winner] / "runs" / "dev").exists()
    (journal,) = (homes[winner] / "runs" / "dev").glob("*-apply.jsonl")
    assert json.loads(journal.read_text().splitlines()[-1])["status"] == "ok"
    assert len(own_vpcs(boto)) == 1
    assert cli("plan", "dev", "--detailed-exitcode").code == 0
    assert lock_item(boto) is None


# -------------------------------------------------------------------------------- unlock
def test_unlock_without_terminal_or_yes_refuses(cli, locked_plans, other_machine, boto) -> None:
    other_machine("apply")
    result = cli("unlock", "dev")
    assert result.code == 1
    assert "held by arn:aws:" in result.out and "(apply from " in result.out
    assert "--yes" in result.err
    assert lock_item(boto) is not None


def test_unlock_breaks_a_dead_runs_lock_after_name_typed_back(
    cli, locked_plans, other_machine, boto, monkeypatch, capsys
) -> None:
    dead = other_machine("apply")
    dead._stop.set()  # the run died: no heartbeat
    monkeypatch.setattr(sys, "stdin", Terminal("dev\n"))
    result = cli("unlock", "dev")
    assert result.code == 0, result.err
    assert "Type the plan name (dev)" in capsys.readouterr().err  # prompts go to the real stderr
    assert "Broke the lock of dev." in result.out
    assert lock_item(boto) is None
    again = cli("unlock", "dev", "--output", "json")
    assert again.code == 0
    report = json.loads(again.out)
    assert report["dynamodb"]["held"] is False and report["local"]["held"] is False


def test_unlock_keeps_the_lock_when_another_name_is_typed(cli, locked_plans, other_machine, boto, monkeypatch) -> None:
    other_machine("apply")
    monkeypatch.setattr(sys, "stdin", Terminal("prod\n"))
    result = cli("unlock", "dev")
    assert result.code == 1
    assert "Cancelled; the lock is kept." in result.out
    assert lock_item(boto) is not None


def test_unlock_with_yes_reports_holder_in_json(cli, locked_plans, other_machine, boto) -> None:
    holder = other_machine("destroy")
    result = cli("unlock", "dev", "--yes", "--output", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["dynamodb"]["broken"] is True
    assert report["dynamodb"]["holder"]["operation"] == "destroy"
    assert report["dynamodb"]["holder"]["token"] == holder.token
    assert lock_item(boto) is None


def test_unlock_without_table_clears_a_killed_runs_local_note(cli, home) -> None:
    locks = home / "locks"
    locks.mkdir()
    (locks / "dev.lock").write_text(
        json.dumps({"plan": "dev", "operation": "apply", "pid": 999999, "since": "2026-01-01T00:00:00+00:00"})
    )
    result = cli("unlock", "dev")
    assert result.code == 0, result.err
    assert "cleared the note of a killed run (pid 999999" in result.out
    assert "names no lock.dynamodb_table" in result.out
    assert (locks / "dev.lock").read_text() == ""


def test_unlock_does_not_touch_a_live_local_lock(cli, home) -> None:
    (home / "locks").mkdir()
    with LocalLock(home / "locks", "dev", "apply"):
        result = cli("unlock", "dev")
        assert result.code == 0
        assert "held by a live run on this machine (apply by " in result.out and f"pid {os.getpid()}" in result.out
        assert LocalLock.status(home / "locks", "dev")[0] is True


# ------------------------------------------------------------------------------- history
def test_history_lists_a_failed_and_a_successful_apply(cli, boto) -> None:
    boto("iam").create_role(RoleName="dev-vpc-flow-logs", AssumeRolePolicyDocument="{}")
    assert cli("apply", "dev", "--yes").code == 1
    boto("iam").delete_role(RoleName="dev-vpc-flow-logs")
    assert cli("apply", "dev", "--yes").code == 0

    text = cli("history", "dev")
    assert text.code == 0, text.err
    header, *rows = text.out.splitlines()
    assert header.split() == ["RUN", "STARTED", "(UTC)", "WHO", "OPERATION", "CHANGES", "RESULT", "DURATION"]
    assert len(rows) == 2
    assert rows[0].startswith("000001  ") and " apply " in rows[0] and " failed " in rows[0] and "create " in rows[0]
    assert rows[1].startswith("000002  ") and " apply " in rows[1] and " ok " in rows[1]
    assert all("arn:aws:" in row for row in rows)

    document = json.loads(cli("history", "dev", "--output", "json").out)
    failed, ok = document
    assert failed["status"] == "failed" and "network/flow-logs/role" in failed["failed_nodes"]
    # The failed run kept what it finished; the second made only the rest.
    assert failed["changes"]["create"] > 15 and failed["mutating_calls"] > 15
    assert ok["status"] == "ok" and ok["changes"]["create"] >= 1 and ok["changes"]["delete"] == 0
    assert ok["who"].startswith("arn:aws:") and ok["account"] == "123456789012" and ok["region"] == "us-east-1"
    assert ok["duration"] > 0 and ok["started"] < ok["ended"]
    assert ok["events"][0]["event"] == "run-start" and ok["events"][-1]["event"] == "run-end"
    assert any(e["event"] == "api-call" and e["operation"] == "CreateVpc" for e in failed["events"])

    last = json.loads(cli("history", "dev", "--output", "json", "--limit", "1").out)
    assert [run["run_id"] for run in last] == [ok["run_id"]]


def test_history_marks_a_run_without_end_crashed_or_running(cli, home) -> None:
    runs = home / "runs"
    ended = Journal(runs, "dev", "apply")
    ended.close("ok", duration=1.0)
    killed = Journal(runs, "dev", "destroy")
    killed.record("api-call", key="network/vpc", operation="DeleteVpc")
    result = cli("history", "dev")
    assert result.code == 0
    assert "crashed" in result.out.splitlines()[-1] and "unknown (1 calls)" in result.out.splitlines()[-1]
    (home / "locks").mkdir(exist_ok=True)
    with LocalLock(home / "locks", "dev", "destroy"):  # that run is alive after all
        assert "running" in cli("history", "dev").out.splitlines()[-1]


def test_history_of_a_plan_without_runs(cli) -> None:
    result = cli("history", "staging")
    assert result.code == 0 and "No runs of staging" in result.out
    assert json.loads(cli("history", "staging", "--output", "json").out) == []
