"""DynamoDbLock through the moto server: the lease lock teams and CI runners share.

Waiting and expiry run on an injected clock (no test sleeps for seconds); the heartbeat and
the race between threads are real.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from provisioner.aws.dynamodb_lock import DynamoDbLock, lock_id
from provisioner.engine import LockError

TABLE = "provisioner-locks"


class FakeClock:
    """Epoch seconds that move only when the code under test sleeps (or the test says so)."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: Any = None

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_lock(session_for: Any, clock: FakeClock) -> Any:
    made: list[DynamoDbLock] = []

    def make(operation: str = "apply", plan: str = "dev", **kwargs: Any) -> DynamoDbLock:
        kwargs.setdefault("now", clock.now)
        kwargs.setdefault("sleep", clock.sleep)
        lock = DynamoDbLock(session_for(), TABLE, plan, operation, **kwargs)
        made.append(lock)
        return lock

    yield make
    for lock in made:
        lock._stop.set()  # no heartbeat thread outlives its test


def item(boto: Any, plan: str = "dev") -> dict[str, Any] | None:
    return (
        boto("dynamodb")
        .get_item(TableName=TABLE, Key={"LockID": {"S": lock_id(plan)}}, ConsistentRead=True)
        .get("Item")
    )


def test_acquire_lock_creates_missing_table_and_records_holder(make_lock, boto, clock) -> None:
    lock = make_lock(lease_seconds=600)
    lock.acquire()
    table = boto("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["DeletionProtectionEnabled"] is True
    held = item(boto)
    assert held is not None
    assert held["holder"]["S"].startswith("arn:aws:")
    assert held["operation"]["S"] == "apply"
    assert int(held["expires_at"]["N"]) == int(clock.t) + 600
    assert held["token"]["S"] == lock.token
    lock.release()
    assert item(boto) is None


def test_acquire_lock_held_waits_then_times_out_naming_holder(make_lock, clock) -> None:
    first = make_lock("apply")
    first.acquire()
    notes: list[str] = []
    second = make_lock("destroy", timeout=30, poll_seconds=5, notify=notes.append)
    start = clock.t
    with pytest.raises(LockError) as info:
        second.acquire()
    message = str(info.value)
    assert message.startswith(f"plan dev is locked in DynamoDB table {TABLE} by arn:aws:")
    assert "(apply from " in message and "since " in message and "lease until " in message
    assert "provisioner unlock dev" in (info.value.hint or "") and "--lock-timeout" in (info.value.hint or "")
    assert clock.t - start == pytest.approx(30)
    assert max(clock.sleeps) <= 5
    assert len(notes) == 1 and notes[0].startswith("waiting up to 30s for the lock of dev")
    assert second.token is None


def test_acquire_lock_without_timeout_refuses_at_once(make_lock, clock) -> None:
    make_lock().acquire()
    with pytest.raises(LockError, match="is locked in DynamoDB"):
        make_lock().acquire()
    assert clock.sleeps == []


def test_acquire_lock_gets_it_when_holder_releases_while_waiting(make_lock, boto, clock) -> None:
    first = make_lock("apply")
    first.acquire()
    clock.on_sleep = first.release
    second = make_lock("destroy", timeout=60)
    second.acquire()
    assert len(clock.sleeps) == 1
    assert item(boto)["operation"]["S"] == "destroy"
    second.release()


def test_acquire_lock_after_lease_expired_and_old_holder_cannot_release_it(make_lock, boto, clock) -> None:
    dead = make_lock("apply", lease_seconds=900)
    dead.acquire()
    clock.t += 901  # the holder died: no heartbeat renewed its lease
    taker = make_lock("destroy", lease_seconds=900)
    taker.acquire()
    assert item(boto)["token"]["S"] == taker.token
    # The old holder waking up must not delete the new holder's lock.
    dead.release()
    assert dead.lost
    assert item(boto)["token"]["S"] == taker.token
    taker.release()
    assert item(boto) is None


def test_break_lock_only_with_the_token_seen(make_lock, boto) -> None:
    holder = make_lock()
    holder.acquire()
    breaker = make_lock("unlock")
    assert breaker.break_lock("not-the-token") is False
    assert item(boto) is not None
    seen = breaker.holder()
    assert seen is not None and seen["operation"] == "apply" and seen["pid"] > 0
    assert breaker.break_lock(seen["token"]) is True
    assert breaker.holder() is None


def test_renew_lock_extends_lease_and_detects_a_broken_lock(make_lock, boto, clock) -> None:
    lost: list[str] = []
    lock = make_lock(lease_seconds=900, on_lost=lost.append)
    lock.acquire()
    clock.t += 400
    assert lock.renew() is True
    assert int(item(boto)["expires_at"]["N"]) == int(clock.t) + 900
    make_lock("unlock").break_lock(lock.token)
    assert lock.renew() is False
    assert lock.lost and len(lost) == 1 and "was broken" in lost[0]
    lock.release()  # nothing to delete, and no error


def test_a_lease_that_runs_out_while_dynamodb_is_unreachable_is_a_lost_lock(make_lock, clock) -> None:
    """A network partition longer than the lease: another machine may hold the lock by now, so
    this run must stop writing (on_lost sets the run's cancel), not keep "retrying"."""
    import boto3
    from botocore.config import Config

    lost: list[str] = []
    lock = make_lock(lease_seconds=900, on_lost=lost.append)
    lock.acquire()
    lock._client = boto3.client(  # DynamoDB out of reach: a closed port on loopback
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    clock.t += 300
    assert lock.renew() is True and not lost  # early in the lease: try again at the next beat
    clock.t += 500
    assert lock.renew() is False  # within a beat of the lease's end: it may be another's now
    assert lock.lost and len(lost) == 1 and "lease ran out" in lost[0]


def test_heartbeat_thread_renews_lease_while_run_lasts(make_lock, boto, clock) -> None:
    lock = make_lock(lease_seconds=900, heartbeat_seconds=0.05)
    lock.acquire()
    clock.t += 500
    deadline = time.monotonic() + 5
    while int(item(boto)["expires_at"]["N"]) != int(clock.t) + 900:
        assert time.monotonic() < deadline, "the heartbeat did not renew the lease"
        time.sleep(0.02)
    lock.release()
    assert item(boto) is None


def create_table(boto: Any) -> None:
    boto("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
    )


def test_concurrent_acquire_from_threads_exactly_one_wins(session_for, boto) -> None:
    # Real time, real threads. The table exists beforehand: moto's CreateTable is not atomic
    # (two concurrent creates of one name can both succeed, the later wiping the first's
    # items), unlike DynamoDB's, so racing the creation here would test moto, not the lock.
    create_table(boto)
    contenders = 8
    barrier = threading.Barrier(contenders)
    winners: list[DynamoDbLock] = []
    refused: list[str] = []
    guard = threading.Lock()

    def contend(index: int) -> None:
        lock = DynamoDbLock(session_for(), TABLE, "dev", f"apply-{index}")
        barrier.wait()
        try:
            lock.acquire()
        except LockError as exc:
            with guard:
                refused.append(str(exc))
            return
        with guard:
            winners.append(lock)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(winners) == 1 and len(refused) == contenders - 1
    assert item(boto)["token"]["S"] == winners[0].token
    assert all(winners[0].operation in message for message in refused)
    winners[0].release()


def test_locks_of_different_plans_are_independent(make_lock) -> None:
    make_lock(plan="dev").acquire()
    make_lock(plan="staging").acquire()


def test_acquire_lock_table_with_wrong_key_is_a_clear_error(make_lock, boto) -> None:
    boto("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(LockError) as info:
        make_lock().acquire()
    assert info.value.code == "ValidationException"
    assert "partition key must be LockID" in (info.value.hint or "")


def test_acquire_lock_without_creating_table_names_what_to_create(make_lock) -> None:
    with pytest.raises(LockError) as info:
        make_lock(create_table=False).acquire()
    assert info.value.code == "ResourceNotFoundException"
    assert f"create table {TABLE} with partition key LockID" in (info.value.hint or "")


def test_holder_when_table_missing_is_none(make_lock) -> None:
    assert make_lock().holder() is None
