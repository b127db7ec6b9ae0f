"""The team lock: a lease in a DynamoDB table, so runs on several machines (laptops, CI
runners) never overlap on one plan (SPEC section 5, issue #9).

Table (named by the plan's `lock.dynamodb_table`): partition key `LockID` (String), nothing
else. It lives in the plan's own region (never `--region`, so every run of a plan meets the
same table) and in the account of the credentials the tool runs with, i.e. the management
or CI account, not the plan's member account: one table serves every plan, and a run holds
the lock before it assumes any role. If the table does not exist it is created on first use
(on-demand capacity, encrypted with the AWS-managed KMS key, deletion protection on, tagged
`ManagedBy=provisioner`); who prefers to create it beforehand (Terraform's way) makes it with
that key schema, and the tool then needs only Get/Put/Update/DeleteItem on it. No plan owns
the table, so `destroy` never deletes it.

One item per plan, `LockID = provisioner/<plan>`, with `token` (a random id of the holding
run), `holder` (the caller's ARN), `user`, `host`, `pid`, `operation`, `acquired_at`, and the
lease `expires_at` (epoch seconds; `expires` is the same in ISO 8601 for people).

- acquire: a conditional PutItem, `attribute_not_exists(LockID) OR expires_at < :now`, so of
  any number of concurrent runs exactly one wins (DynamoDB evaluates the condition and the
  write atomically); the others read the holder from the failed condition
  (ReturnValuesOnConditionCheckFailure) and poll until `--lock-timeout` runs out.
- heartbeat: a thread renews the lease every lease/3 with an UpdateItem conditional on our
  token, so a live run keeps its lock however long it lasts, and the lock of a killed run
  (no heartbeat) expires after at most one lease. If the token no longer matches (someone
  ran `unlock`, or the lease ran out during a network partition and another run took it)
  the lock is lost: `on_lost` is called so the run can stop.
- release: a DeleteItem conditional on our token: a run never deletes a lock it no longer
  holds. Release never raises (it runs in `finally`); a failure is reported and the lease
  simply expires.

The lease compares clocks of different machines; with a lease of minutes (15 by default),
the seconds of skew NTP leaves do not matter.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from provisioner.aws.errors import error_code, error_message
from provisioner.constants import MANAGED_BY, TAG_MANAGED_BY
from provisioner.engine.errors import LockError

KEY = "LockID"
DEFAULT_LEASE_SECONDS = 900.0
# How long a freshly created table may take to become ACTIVE (on-demand tables usually
# take a few seconds).
TABLE_ACTIVE_TIMEOUT = 120.0
CONDITION_FAILED = "ConditionalCheckFailedException"


def lock_id(plan: str) -> str:
    return f"provisioner/{plan}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A low-level DynamoDB item ({"S": ...}, {"N": ...}) as plain values."""
    if not item:
        return None
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "N" in value:
            number = float(value["N"])
            out[name] = int(number) if number.is_integer() else number
        else:
            out[name] = next(iter(value.values()))
    return out


def describe_holder(item: dict[str, Any], now: float | None = None) -> str:
    """`arn (apply from alice@host pid 42, since ..., lease until ...)`, for messages."""
    lease = f"lease until {item.get('expires')}"
    if now is not None and float(item.get("expires_at", 0)) < now:
        lease = f"lease expired at {item.get('expires')}"
    return (
        f"{item.get('holder', 'an unknown caller')} ({item.get('operation')} from {item.get('user')}@{item.get('host')} "
        f"pid {item.get('pid')}, since {item.get('acquired_at')}, {lease})"
    )


class _Unreachable(Exception):
    """DynamoDB did not answer a renewal (not a refusal)."""


class DynamoDbLock:
    """A lease lock on one plan in one DynamoDB table (see the module docstring).

    `now` (epoch seconds) and `sleep` are injectable so tests drive waiting and expiry
    without sleeping; the heartbeat thread waits on a real Event every `heartbeat_seconds`.
    """

    def __init__(
        self,
        session: Any,
        table: str,
        plan: str,
        operation: str,
        *,
        region: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        timeout: float = 0.0,
        poll_seconds: float = 5.0,
        heartbeat_seconds: float | None = None,
        create_table: bool = True,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ):
        self.session = session
        self.table = table
        self.plan = plan
        self.operation = operation
        self.region = region or session.region
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds if heartbeat_seconds is not None else lease_seconds / 3
        self.create_table = create_table
        self.now = now
        self.sleep = sleep
        self.notify = notify or (lambda message: None)
        self.on_lost = on_lost
        self.key = {KEY: {"S": lock_id(plan)}}
        self.token: str | None = None
        self.lost = False
        # When our lease ends as last written: past it, another run may take the lock.
        self.lease_until = 0.0
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        # A client of its own, so the heartbeat never competes with the run's retry budget.
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.session.client("dynamodb", region=self.region, purpose="lock")
        return self._client

    # ------------------------------------------------------------------------ acquire
    def acquire(self) -> None:
        deadline = self.now() + self.timeout
        token = uuid.uuid4().hex
        waited = False
        while True:
            started = self.now()
            holder = self._try_put(token)
            if holder is None:
                self.token = token
                self.lost = False
                self.lease_until = started + self.lease_seconds
                self._start_heartbeat()
                return
            now = self.now()
            if now >= deadline:
                raise LockError(
                    f"plan {self.plan} is locked in DynamoDB table {self.table} by {describe_holder(holder, now)}",
                    hint=f"wait with --lock-timeout SECONDS or, if that run is dead, `provisioner unlock {self.plan}`",
                )
            if not waited:
                self.notify(
                    f"waiting up to {int(deadline - now)}s for the lock of {self.plan}, held by {describe_holder(holder, now)}"
                )
                waited = True
            self.sleep(max(0.0, min(self.poll_seconds, deadline - now)))

    def _try_put(self, token: str) -> dict[str, Any] | None:
        """None when we got the lock, else the current holder's item."""
        now = self.now()
        item = {
            **self.key,
            "token": {"S": token},
            "holder": {"S": self._caller_arn()},
            "user": {"S": getpass.getuser()},
            "host": {"S": socket.gethostname()},
            "pid": {"N": str(os.getpid())},
            "operation": {"S": self.operation},
            "acquired_at": {"S": _iso(now)},
            "expires_at": {"N": str(int(now + self.lease_seconds))},
            "expires": {"S": _iso(now + self.lease_seconds)},
        }
        for _ in range(3):
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(LockID) OR expires_at < :now",
                    ExpressionAttributeValues={":now": {"N": str(int(now))}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as exc:
                code = error_code(exc)
                if code == CONDITION_FAILED:
                    holder = _plain(exc.response.get("Item")) or self.holder()
                    if holder is None:
                        continue  # released between our write and our read: try again at once
                    return holder
                if code == "ResourceNotFoundException" and self.create_table:
                    self._create_table()
                    continue
                raise self._error(exc, "take") from None
            except BotoCoreError as exc:
                raise LockError(
                    f"cannot reach DynamoDB lock table {self.table}: {exc}",
                    hint="check the network and credentials, then run again",
                ) from None
        raise LockError(f"could not take the lock of {self.plan} in DynamoDB table {self.table}", hint="run again")

    def _caller_arn(self) -> str:
        if not hasattr(self, "_arn"):
            try:
                self._arn = str(self.session.client("sts", purpose="lock").get_caller_identity()["Arn"])
            except (ClientError, BotoCoreError):
                self._arn = "an unknown caller"
        return self._arn

    def _create_table(self) -> None:
        self.notify(
            f"creating DynamoDB lock table {self.table} in {self.region} (partition key {KEY}, on-demand, encrypted)"
        )
        try:
            self.client.create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                # KMS with the AWS-managed key (aws/dynamodb): the key is auditable in
                # CloudTrail, unlike the default AWS-owned key.
                SSESpecification={"Enabled": True, "SSEType": "KMS"},
                DeletionProtectionEnabled=True,
                Tags=[{"Key": TAG_MANAGED_BY, "Value": MANAGED_BY}],
            )
        except ClientError as exc:
            # Another run created it at the same moment: wait for it like for ours.
            if error_code(exc) != "ResourceInUseException":
                raise self._error(exc, "create") from None
        deadline = self.now() + TABLE_ACTIVE_TIMEOUT
        delay = 0.5
        while True:
            status = self.client.describe_table(TableName=self.table)["Table"]["TableStatus"]
            if status == "ACTIVE":
                return
            if self.now() >= deadline:
                raise LockError(
                    f"DynamoDB lock table {self.table} is still {status} after {int(TABLE_ACTIVE_TIMEOUT)}s",
                    hint="run again in a minute",
                )
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _error(self, exc: ClientError, doing: str) -> LockError:
        code = error_code(exc)
        hint = "check the table and the credentials' DynamoDB permissions"
        if code == "ValidationException":
            hint = f"the table's partition key must be {KEY} (String) and nothing else"
        elif code in ("AccessDeniedException", "UnrecognizedClientException"):
            hint = (
                f"allow dynamodb:GetItem, PutItem, UpdateItem, DeleteItem on table {self.table} "
                "(and CreateTable, DescribeTable if the tool should create it)"
            )
        elif code == "ResourceNotFoundException":
            hint = f"create table {self.table} with partition key {KEY} (String) in {self.region}"
        return LockError(
            f"cannot {doing} the lock of {self.plan} in DynamoDB table {self.table}: {error_message(exc)}",
            code=code,
            hint=hint,
        )

    # --------------------------------------------------------------------- heartbeat
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name=f"lock-heartbeat-{self.plan}", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Extend the lease by one lease from now; False once the lock is lost. A failure to
        reach DynamoDB is not a loss while the lease lasts (the next beat tries again); once
        the lease may have run out, another run may hold the lock, so it is lost."""
        if self.token is None or self.lost:
            return False
        now = self.now()
        try:
            return self._renew(now)
        except _Unreachable as exc:
            if self.now() < self.lease_until - self.heartbeat_seconds:
                self.notify(f"could not renew the lock of {self.plan}: {exc}; retrying")
                return True
            return self._lose(
                f"the lock of {self.plan} could not be renewed before its lease ran out ({exc}); "
                "another run may hold it now"
            )

    def _renew(self, now: float) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET expires_at = :expires_at, expires = :expires, renewed_at = :renewed_at",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={
                    ":token": {"S": self.token},
                    ":expires_at": {"N": str(int(now + self.lease_seconds))},
                    ":expires": {"S": _iso(now + self.lease_seconds)},
                    ":renewed_at": {"S": _iso(now)},
                },
            )
            self.lease_until = now + self.lease_seconds
            return True
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise _Unreachable(error_message(exc)) from exc
        except BotoCoreError as exc:
            raise _Unreachable(str(exc)) from exc
        holder = self.holder()
        return self._lose(
            f"the lock of {self.plan} in DynamoDB table {self.table} was broken"
            + (f" and is now held by {describe_holder(holder)}" if holder else " (`provisioner unlock`)")
        )

    def _lose(self, message: str) -> bool:
        self.lost = True
        if self.on_lost is not None:
            self.on_lost(message)
        else:
            self.notify(message)
        return False

    # ----------------------------------------------------------------------- release
    def release(self) -> None:
        if self.token is None:
            return
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=30)
        self._heartbeat = None
        token, self.token = self.token, None
        if self.lost:
            return
        try:
            if not self._delete_if_token(token):
                self.lost = True
                self.notify(f"the lock of {self.plan} was no longer ours when this run ended (broken with `unlock`?)")
        except ClientError as exc:
            self.notify(
                f"could not release the lock of {self.plan} in DynamoDB table {self.table}: {error_message(exc)}; "
                f"it expires within {int(self.lease_seconds)}s, or run `provisioner unlock {self.plan}`"
            )
        except BotoCoreError as exc:
            self.notify(
                f"could not release the lock of {self.plan}: {exc}; it expires within {int(self.lease_seconds)}s"
            )

    def __enter__(self) -> DynamoDbLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------- inspect / break
    def holder(self) -> dict[str, Any] | None:
        """The current lock item (plain values), or None when nobody holds it or the table
        does not exist. A strongly consistent read: it sees the latest write."""
        try:
            response = self.client.get_item(TableName=self.table, Key=self.key, ConsistentRead=True)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise self._error(exc, "read") from None
        return _plain(response.get("Item"))

    def break_lock(self, token: str) -> bool:
        """Delete the lock item if it still carries `token` (the holder the user confirmed):
        False if it changed hands meanwhile or is already gone."""
        try:
            return self._delete_if_token(token)
        except ClientError as exc:
            raise self._error(exc, "break") from None

    def _delete_if_token(self, token: str) -> bool:
        """Delete the lock item only while it carries `token`; False if it does not (any more)."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self.key,
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True
