"""The state of the Organizations extension (account creations in flight, GuardDuty
organization configurations), its settings (latency, the clock, the account quota) read through
this module, the request and errors, and lookups in moto's Organizations backends shared by
the services."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.sandbox.wsgi import call_app

# Real AWS time x LATENCY_SCALE (SPEC section 6: `sandbox start --latency SCALE`).
LATENCY_SCALE = 0.0
# latency-model.md: Organizations CreateAccount -> SUCCEEDED, p50.
CREATE_ACCOUNT_SECONDS = 90.0
# AWS's default quota of accounts in a new organization (Service Quotas raises it).
ACCOUNT_LIMIT = 10
MAX_SCP_CHARACTERS = 5120

ORGANIZATIONS_TARGET = "AWSOrganizationsV20161128."
CLOUDTRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
ACCESS_DENIED = "You don't have permissions to access this resource."
NOT_IN_USE = "Your account is not a member of an organization."

# Reads of one trail a member account may make on its organization's trail, by the parameter
# that names the trail.
TRAIL_READS = {
    "GetTrailStatus": "Name",
    "GetEventSelectors": "TrailName",
    "GetInsightSelectors": "TrailName",
    "GetTrail": "Name",
}


# Calls an account may make whatever its place in an organization.
ANYONE = {
    "CreateOrganization",
    "DescribeOrganization",
    "ListHandshakesForAccount",
    "AcceptHandshake",
    "DeclineHandshake",
    "DescribeHandshake",
}
MEMBER = ANYONE | {"LeaveOrganization"}


def now() -> float:
    """The sandbox's clock (tests move it instead of sleeping)."""
    return time.time()


@dataclass
class Creation:
    """One CreateAccount request, as DescribeCreateAccountStatus reports it."""

    id: str
    management: str
    name: str
    email: str
    requested: float
    ready_at: float
    account_id: str | None = None  # None when it fails
    failure: str | None = None

    def status(self) -> dict[str, Any]:
        record: dict[str, Any] = {"Id": self.id, "AccountName": self.name, "RequestedTimestamp": self.requested}
        if now() < self.ready_at:
            record["State"] = "IN_PROGRESS"
        elif self.failure:
            record.update(State="FAILED", FailureReason=self.failure, CompletedTimestamp=self.ready_at)
        else:
            record.update(State="SUCCEEDED", AccountId=self.account_id, CompletedTimestamp=self.ready_at)
        return record

    @property
    def pending_account(self) -> bool:
        return self.account_id is not None and now() < self.ready_at


@dataclass
class State:
    creations: dict[str, Creation] = field(default_factory=dict)
    in_flight: list[tuple[str, str]] = field(default_factory=list)  # (management, email) being made by moto
    # (account, region, detector id) -> GuardDuty organization configuration
    org_configs: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = State()


def state() -> list[Any]:
    """The containers `reset()` clears, for a sandbox snapshot (sandbox/snapshot.py)."""
    return [STATE.creations, STATE.in_flight, STATE.org_configs]


def reset() -> None:
    with STATE.lock:
        STATE.creations.clear()
        STATE.in_flight.clear()
        STATE.org_configs.clear()
    try:
        from moto.iam.models import iam_backends
        from moto.organizations.models import organizations_backends
    except ImportError:  # moto not importable: nothing of its to forget
        return
    # moto's reset re-initialises every account's IAM backend (loading AWS's ~1,600 managed
    # policies, about 0.2 s each) only to drop it; member accounts' are dropped right away.
    for account in list(organizations_backends.master_accounts):
        iam_backends.pop(account, None)
    organizations_backends.master_accounts.clear()


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.extra = code, message, status, extra


@dataclass
class Request:
    environ: dict[str, Any]
    body: bytes
    account: str
    region: str
    access_key: str

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "Request body is not valid JSON") from None
        return value if isinstance(value, dict) else {}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def org_backend(account: str) -> Any:
    from moto.organizations.models import organizations_backends

    return organizations_backends[account]["aws"]


def management_of(account: str) -> str | None:
    """The management account of the organization `account` is in, or None."""
    from moto.organizations.models import organizations_backends

    if org_backend(account).org is not None:
        return account
    entry = organizations_backends.master_accounts.get(account)
    if entry is None:
        return None
    management = entry[0]
    member = next((a for a in org_backend(management).accounts if a.id == account), None)
    if member is None or account in pending_accounts(management):
        return None
    return str(management)


def service_enabled(backend: Any, principal: str) -> bool:
    return any(s.get("ServicePrincipal") == principal for s in backend.services)


def is_delegated_admin(management: str, account: str) -> bool:
    return any(d.account.id == account and d.services for d in org_backend(management).admins)


def all_creations() -> list[Creation]:
    with STATE.lock:
        return list(STATE.creations.values())


def pending_accounts(management: str) -> set[str]:
    return {c.account_id for c in all_creations() if c.management == management and c.pending_account and c.account_id}


def json_answer(service: str, payload: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    data = json.dumps(payload).encode()
    content_type = "application/json" if service == "guardduty" else "application/x-amz-json-1.1"
    return (
        "200 OK",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", secrets.token_hex(16)),
        ],
        data,
    )


def error_response(start_response: Callable[..., Any], service: str, exc: ApiError) -> list[bytes]:
    if service == "guardduty":
        payload: dict[str, Any] = {"message": exc.message, "__type": exc.code}
        content_type = "application/json"
    else:
        payload = {"__type": exc.code, "Message": exc.message, **exc.extra}
        content_type = "application/x-amz-json-1.1"
    data = json.dumps(payload).encode()
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(exc.status, "Error")
    start_response(
        f"{exc.status} {reason}",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("x-amzn-ErrorType", exc.code),
            ("x-amzn-RequestId", secrets.token_hex(16)),
        ],
    )
    return [data]


class Forwarder:
    """A service's calls: `handle(request)` answers one (None: moto answers it unchanged);
    `_forward` asks moto and keeps its answer, to amend it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def handle(self, request: Request) -> Any:
        raise NotImplementedError

    def _forward(self, request: Request, as_account: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call moto and keep its answer (to amend it)."""
        environ = dict(request.environ)
        if as_account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = as_account
        return call_app(self.app, environ, request.body)
