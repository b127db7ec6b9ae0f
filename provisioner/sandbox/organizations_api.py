"""The sandbox's Organizations, GuardDuty and CloudTrail: what moto 5.2 lacks or gets wrong for
the organization and shared steps, made to answer the way AWS answers.

A WSGI layer in front of moto (`wrap`). It recognises calls by their SigV4 credential scope
(`.../<region>/<service>/aws4_request`) and the operation (JSON `X-Amz-Target`, or GuardDuty's
REST path), handles what is listed here and passes everything else to moto. It reads and
amends moto's in-process backends, as `eks` does. `reset()` forgets its own state and
moto's map of member accounts (which moto's reset keeps).

Organizations
- Who may call what (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_org_support-all-features.html):
  an account in no organization gets AWSOrganizationsNotInUseException for everything but
  CreateOrganization and the handshake calls (moto answers ListAccounts with an empty list);
  a member account may call DescribeOrganization and the handshake calls, a member that is a
  delegated administrator for any service may also call the read-only Describe*/List*
  operations (answered with the organization's data), and every other call from a member
  gets AccessDeniedException "You don't have permissions to access this resource." (moto
  answers 500, an empty list, or the wrong error).
- CreateAccount is asynchronous as on AWS: the answer and DescribeCreateAccountStatus say
  IN_PROGRESS for the latency model's p50 (90 s) x `LATENCY_SCALE` (at once with the default
  0, but the first answer always says IN_PROGRESS, as AWS's does); until then the account is
  not listed. It fails as AWS fails, through the status's FailureReason, not an error:
  EMAIL_ALREADY_EXISTS when an account of the organization (or a creation in progress)
  already uses the email (moto makes a second account), ACCOUNT_LIMIT_EXCEEDED beyond
  `ACCOUNT_LIMIT` accounts (AWS's default quota for a new organization is 10).
- Validation moto skips: duplicate OU names under one parent (DuplicateOrganizationalUnitException),
  deleting an OU with accounts or child OUs (OrganizationalUnitNotEmptyException), SCP content
  that is not JSON (MalformedPolicyDocumentException) or longer than 5,120 characters
  (ConstraintViolationException, POLICY_CONTENT_LIMIT_EXCEEDED), attaching an SCP before the
  policy type is enabled on the root (PolicyTypeNotEnabledException) or twice
  (DuplicatePolicyAttachmentException), detaching one that is not attached
  (PolicyNotAttachedException), MoveAccount from a parent the account is not in
  (SourceParentNotFoundException) or to the one it is in (DuplicateAccountException).

GuardDuty
- Organization configuration, which moto lacks: UpdateOrganizationConfiguration and
  DescribeOrganizationConfiguration (per detector of the delegated administrator, in its
  region; `autoEnableOrganizationMembers` ALL / NEW / NONE, default NONE), and ListMembers
  (with ALL, every other active account of the organization, the management account too, is an
  Enabled member: "all accounts in the organization have GuardDuty enabled automatically"). Only the
  delegated administrator of that region may call them, with its own detector.
- EnableOrganizationAdminAccount does what AWS does besides recording the admin: only the
  management account may call it, for a member account, one delegated administrator per
  organization; it enables GuardDuty's trusted access and registers the account as
  GuardDuty's delegated administrator in Organizations, and enables GuardDuty (a detector) in
  that account and region. DisableOrganizationAdminAccount (missing in moto) undoes it.
- CreateDetector refuses a second detector in an account and region (moto makes one per call
  and ignores ClientToken). TagResource / UntagResource / ListTagsForResource for detectors.
- Auto-enable acts as on AWS: `ALL` gives every active member account (the management
  account too) a detector in that region, those there when it was set and those that join
  later; `NEW` only accounts that join after it was set. Each account is enabled once: a
  detector deleted afterwards is not made again. Detectors appear by the next GuardDuty call.

CloudTrail
- An organization trail is listed in every member account, as on AWS: DescribeTrails there
  returns it (the management account's trail: its ARN, HomeRegion, IsOrganizationTrail) with
  the member's own trails, in every region for a multi-region trail, and GetTrailStatus,
  GetTrail, GetEventSelectors and GetInsightSelectors answer for it (moto knows it in the
  management account only).
- DeleteTrail takes the trail's name or ARN (moto ignores an ARN and answers 200), and says
  TrailNotFoundException for a trail that does not exist.
- CreateTrail / UpdateTrail check what AWS checks and moto does not: an organization trail
  needs the management account (NotOrganizationMasterAccountException), all features
  (OrganizationNotInAllFeaturesModeException) and CloudTrail's trusted access
  (CloudTrailAccessNotEnabledException); the bucket policy must let cloudtrail.amazonaws.com
  GetBucketAcl and PutObject under AWSLogs/ (InsufficientS3BucketPolicyException); a KMS key's
  policy must let it GenerateDataKey* (InsufficientEncryptionPolicyException).

Speed: a new member account costs moto ~1.5 s (AWS's managed policies loaded into an IAM
backend per partition); the sandbox loads them in the aws partition only, and drops member
accounts' IAM backends before moto's reset re-initialises them.

Where this differs from AWS (known): messages not published by AWS are close paraphrases;
SCPs are stored, never enforced; auto-enabled GuardDuty members are not listed as members
of the administrator unless auto-enable is ALL.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioner.sandbox.wsgi import call_app, credential_scope, read_body, request_account

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
_TRAIL_READS = {
    "GetTrailStatus": "Name",
    "GetEventSelectors": "TrailName",
    "GetInsightSelectors": "TrailName",
    "GetTrail": "Name",
}


# Calls an account may make whatever its place in an organization.
_ANYONE = {
    "CreateOrganization",
    "DescribeOrganization",
    "ListHandshakesForAccount",
    "AcceptHandshake",
    "DeclineHandshake",
    "DescribeHandshake",
}
_MEMBER = _ANYONE | {"LeaveOrganization"}


def _now() -> float:
    """The sandbox's clock (tests move it instead of sleeping)."""
    return time.time()


@dataclass
class _Creation:
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
        if _now() < self.ready_at:
            record["State"] = "IN_PROGRESS"
        elif self.failure:
            record.update(State="FAILED", FailureReason=self.failure, CompletedTimestamp=self.ready_at)
        else:
            record.update(State="SUCCEEDED", AccountId=self.account_id, CompletedTimestamp=self.ready_at)
        return record

    @property
    def pending_account(self) -> bool:
        return self.account_id is not None and _now() < self.ready_at


@dataclass
class _State:
    creations: dict[str, _Creation] = field(default_factory=dict)
    in_flight: list[tuple[str, str]] = field(default_factory=list)  # (management, email) being made by moto
    # (account, region, detector id) -> GuardDuty organization configuration
    org_configs: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_STATE = _State()


def reset() -> None:
    with _STATE.lock:
        _STATE.creations.clear()
        _STATE.in_flight.clear()
        _STATE.org_configs.clear()
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


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    _cheaper_member_accounts()
    return _OrganizationsApi(app)


def _cheaper_member_accounts() -> None:
    """Every request with an access key moto does not know makes it look in each account's IAM
    backend for every partition (aws, aws-cn, aws-us-gov, ...), creating them, and each loads
    AWS's managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES) in ~0.2 s: about 1.5 s per new
    member account. The sandbox works in the aws partition only, so the other partitions'
    backends start without managed policies."""
    from moto.iam.models import IAMBackend

    original = IAMBackend._init_aws_policies
    if getattr(original, "_sandbox", False):
        return

    def _init_aws_policies(self: Any) -> Any:
        if self.region_name not in ("aws", "global"):
            return []
        return original(self)

    _init_aws_policies._sandbox = True  # type: ignore[attr-defined]
    IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.extra = code, message, status, extra


@dataclass
class _Request:
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


class _OrganizationsApi:
    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = credential_scope(environ)
        if scope is None or scope.service not in ("organizations", "guardduty", "cloudtrail"):
            return self.app(environ, start_response)
        service = scope.service
        body = read_body(environ)
        request = _Request(environ, body, request_account(environ, scope.access_key), scope.region, scope.access_key)
        try:
            # No lock around the whole call: forwarding to moto can take a second (a new
            # account's IAM backend loads AWS's managed policies), and calls run concurrently.
            if service == "organizations":
                answer = self._organizations(request)
            elif service == "guardduty":
                answer = self._guardduty(request)
            else:
                answer = self._cloudtrail(request)
        except ApiError as exc:
            return _error(start_response, service, exc)
        if answer is None:
            return self.app(environ, start_response)
        status, headers, data = answer
        start_response(status, headers)
        return [data]

    # ------------------------------------------------------------------------ plumbing
    def _forward(self, request: _Request, as_account: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Call moto and keep its answer (to amend it)."""
        environ = dict(request.environ)
        if as_account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = as_account
        return call_app(self.app, environ, request.body)

    # ------------------------------------------------------------------ organizations
    def _organizations(self, request: _Request) -> Any:
        operation = request.environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(ORGANIZATIONS_TARGET)
        management = _management_of(request.account)
        if management is None:
            if operation in _ANYONE:
                return None
            raise ApiError("AWSOrganizationsNotInUseException", NOT_IN_USE)
        if management != request.account:
            if operation in _MEMBER:
                return None
            if operation.startswith(("Describe", "List")) and _is_delegated_admin(management, request.account):
                return self._organizations_read(request, operation, management, as_account=management)
            raise ApiError("AccessDeniedException", ACCESS_DENIED)
        handler = getattr(self, f"_org_{_snake(operation)}", None)
        if handler is not None:
            return handler(request, management)
        return self._organizations_read(request, operation, management)

    def _organizations_read(
        self, request: _Request, operation: str, management: str, as_account: str | None = None
    ) -> Any:
        """Reads hide accounts whose creation is still in progress."""
        if operation in (
            "ListAccounts",
            "ListAccountsForParent",
            "ListCreateAccountStatus",
            "DescribeCreateAccountStatus",
            "DescribeAccount",
        ):
            return getattr(self, f"_org_{_snake(operation)}")(request, management, as_account)
        if as_account is None:
            return None
        return self._forward(request, as_account)

    def _org_create_account(self, request: _Request, management: str) -> Any:
        params = request.json()
        email, name = str(params.get("Email", "")), str(params.get("AccountName", ""))
        backend = _org_backend(management)
        now = _now()
        ready_at = now + CREATE_ACCOUNT_SECONDS * LATENCY_SCALE
        failure = None
        with _STATE.lock:  # the checks and the reservation are one step: creations run concurrently
            in_flight = [e for m, e in _STATE.in_flight if m == management]
            # moto lists an account (even one still IN_PROGRESS here) as soon as it makes it
            if email.lower() in {a.email.lower() for a in backend.accounts} | set(in_flight):
                failure = "EMAIL_ALREADY_EXISTS"
            elif len(backend.accounts) + len(in_flight) >= ACCOUNT_LIMIT:
                failure = "ACCOUNT_LIMIT_EXCEEDED"
            else:
                _STATE.in_flight.append((management, email.lower()))
        if failure:
            creation = _Creation(
                f"car-{secrets.token_hex(16)}", management, name, email, now, ready_at, failure=failure
            )
        else:
            try:
                status, headers, data = self._forward(request)
            finally:
                with _STATE.lock:
                    _STATE.in_flight.remove((management, email.lower()))
            if not status.startswith("200"):
                return status, headers, data
            moto_status = json.loads(data)["CreateAccountStatus"]
            creation = _Creation(
                moto_status["Id"], management, name, email, now, ready_at, account_id=moto_status["AccountId"]
            )
        with _STATE.lock:
            _STATE.creations[creation.id] = creation
        first = {"Id": creation.id, "AccountName": name, "State": "IN_PROGRESS", "RequestedTimestamp": now}
        return _json_answer("organizations", {"CreateAccountStatus": first})

    def _org_describe_create_account_status(
        self, request: _Request, management: str, as_account: str | None = None
    ) -> Any:
        request_id = request.json().get("CreateAccountRequestId")
        creation = _STATE.creations.get(str(request_id))
        if creation is None or creation.management != management:
            return self._forward(request, as_account) if as_account else None
        return _json_answer("organizations", {"CreateAccountStatus": creation.status()})

    def _org_list_create_account_status(self, request: _Request, management: str, as_account: str | None = None) -> Any:
        wanted = request.json().get("States") or ["IN_PROGRESS", "SUCCEEDED", "FAILED"]
        status, headers, data = self._forward(request, as_account)
        if not status.startswith("200"):
            return status, headers, data
        answer = json.loads(data)
        ours = {c.id: c for c in _creations() if c.management == management}
        statuses = [s for s in answer.get("CreateAccountStatuses", []) if s.get("Id") not in ours]
        statuses += [c.status() for c in ours.values()]
        answer["CreateAccountStatuses"] = [s for s in statuses if s.get("State") in wanted]
        return _json_answer("organizations", answer)

    def _org_list_accounts(self, request: _Request, management: str, as_account: str | None = None) -> Any:
        return self._without_pending(request, management, as_account)

    def _org_list_accounts_for_parent(self, request: _Request, management: str, as_account: str | None = None) -> Any:
        return self._without_pending(request, management, as_account)

    def _without_pending(self, request: _Request, management: str, as_account: str | None) -> Any:
        status, headers, data = self._forward(request, as_account)
        if not status.startswith("200"):
            return status, headers, data
        pending = _pending_accounts(management)
        answer = json.loads(data)
        answer["Accounts"] = [a for a in answer.get("Accounts", []) if a.get("Id") not in pending]
        return _json_answer("organizations", answer)

    def _org_describe_account(self, request: _Request, management: str, as_account: str | None = None) -> Any:
        if request.json().get("AccountId") in _pending_accounts(management):
            raise ApiError("AccountNotFoundException", "You specified an account that doesn't exist.")
        return self._forward(request, as_account) if as_account else None

    def _org_create_organizational_unit(self, request: _Request, management: str) -> Any:
        params = request.json()
        backend = _org_backend(management)
        for unit in backend.ou:
            if unit.parent_id == params.get("ParentId") and unit.name == params.get("Name"):
                raise ApiError("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")
        return None

    def _org_delete_organizational_unit(self, request: _Request, management: str) -> Any:
        unit_id = request.json().get("OrganizationalUnitId")
        backend = _org_backend(management)
        if any(u.parent_id == unit_id for u in backend.ou) or any(a.parent_id == unit_id for a in backend.accounts):
            raise ApiError(
                "OrganizationalUnitNotEmptyException",
                "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all "
                "child OUs, and try the operation again.",
            )
        return None

    def _org_create_policy(self, request: _Request, management: str) -> Any:
        params = request.json()
        if params.get("Type") == "SERVICE_CONTROL_POLICY":
            _check_scp(params.get("Content"))
        return None

    def _org_update_policy(self, request: _Request, management: str) -> Any:
        params = request.json()
        if "Content" in params:
            policy = _policy(management, params.get("PolicyId"))
            if policy is not None and policy.type == "SERVICE_CONTROL_POLICY":
                _check_scp(params.get("Content"))
        return None

    def _org_attach_policy(self, request: _Request, management: str) -> Any:
        params = request.json()
        policy = _policy(management, params.get("PolicyId"))
        if policy is None:
            return None
        backend = _org_backend(management)
        root = next((u for u in backend.ou if getattr(u, "type", "") == "ROOT"), None)
        if root is not None and not any(
            t.get("Type") == policy.type and t.get("Status") == "ENABLED" for t in root.policy_types
        ):
            raise ApiError(
                "PolicyTypeNotEnabledException", "This operation can be performed only for enabled policy types."
            )
        if any(getattr(t, "id", None) == params.get("TargetId") for t in policy.attachments):
            raise ApiError(
                "DuplicatePolicyAttachmentException", "The selected policy is already attached to the specified target."
            )
        return None

    def _org_detach_policy(self, request: _Request, management: str) -> Any:
        params = request.json()
        policy = _policy(management, params.get("PolicyId"))
        if policy is not None and not any(getattr(t, "id", None) == params.get("TargetId") for t in policy.attachments):
            raise ApiError(
                "PolicyNotAttachedException", "The policy isn't attached to the specified target in the specified root."
            )
        return None

    def _org_move_account(self, request: _Request, management: str) -> Any:
        params = request.json()
        account = next((a for a in _org_backend(management).accounts if a.id == params.get("AccountId")), None)
        if account is None or account.id in _pending_accounts(management):
            raise ApiError("AccountNotFoundException", "You specified an account that doesn't exist.")
        if account.parent_id != params.get("SourceParentId"):
            raise ApiError(
                "SourceParentNotFoundException",
                "We can't find a source root or OU with the ParentId that you specified.",
            )
        if account.parent_id == params.get("DestinationParentId"):
            raise ApiError("DuplicateAccountException", "That account is already present in the specified destination.")
        return None

    # ------------------------------------------------------------------------ guardduty
    def _guardduty(self, request: _Request) -> Any:
        _gd_auto_enable()
        method = request.environ.get("REQUEST_METHOD", "GET")
        path = request.environ.get("PATH_INFO", "").rstrip("/")
        if method == "POST" and path == "/detector":
            if _gd_backend(request.account, request.region).detectors:
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because a detector already exists for the current account.",
                )
            return None
        if method == "POST" and path == "/admin/enable":
            return self._gd_enable_admin(request)
        if method == "POST" and path == "/admin/disable":
            return self._gd_disable_admin(request)
        if method == "GET" and path == "/admin":
            if _org_backend(request.account).org is None:
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because the current account is not the organization's management account.",
                )
            admins = _gd_backend(request.account, request.region).admin_account_ids
            return _json_answer(
                "guardduty", {"adminAccounts": [{"adminAccountId": a, "adminStatus": "ENABLED"} for a in admins]}
            )
        match = re.fullmatch(r"/detector/([^/]+)/(admin|member)", path)
        if match:
            detector_id, what = match.groups()
            config = self._gd_admin_config(request, detector_id)
            if what == "member" and method == "GET":
                return self._gd_list_members(request, detector_id, config)
            if what == "admin" and method == "POST":
                return self._gd_update_org_config(request, config)
            if what == "admin" and method == "GET":
                return _json_answer("guardduty", _describe_org_config(config))
        match = re.fullmatch(r"/tags/(.+)", path)
        if match:
            return self._gd_tags(request, method, match.group(1))
        return None

    def _gd_enable_admin(self, request: _Request) -> Any:
        admin = str(request.json().get("adminAccountId", ""))
        backend = _org_backend(request.account)
        if backend.org is None:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the organization's management account.",
            )
        account = next((a for a in backend.accounts if a.id == admin and a.status == "ACTIVE"), None)
        if account is None or admin == request.account or admin in _pending_accounts(request.account):
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the account {admin} is not a member of the organization.",
            )
        other = _gd_admins_anywhere(request.account) - {admin}
        if other:
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the organization already has a delegated administrator ({', '.join(sorted(other))}).",
            )
        gd = _gd_backend(request.account, request.region)
        if admin not in gd.admin_account_ids:
            gd.admin_account_ids.append(admin)
        # AWS: "This enables GuardDuty as a trusted service in AWS Organizations. It also
        # enables GuardDuty for the delegated GuardDuty administrator account" (in this Region).
        if not _service_enabled(backend, "guardduty.amazonaws.com"):
            backend.enable_aws_service_access(ServicePrincipal="guardduty.amazonaws.com")
        if not any(d.account.id == admin and "guardduty.amazonaws.com" in d.services for d in backend.admins):
            backend.register_delegated_administrator(AccountId=admin, ServicePrincipal="guardduty.amazonaws.com")
        admin_gd = _gd_backend(admin, request.region)
        if not admin_gd.detectors:
            admin_gd.create_detector(True, "SIX_HOURS", {}, {}, [])
        return _json_answer("guardduty", {})

    def _gd_disable_admin(self, request: _Request) -> Any:
        admin = str(request.json().get("adminAccountId", ""))
        backend = _org_backend(request.account)
        if backend.org is None:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the organization's management account.",
            )
        gd = _gd_backend(request.account, request.region)
        if admin not in gd.admin_account_ids:
            raise ApiError(
                "BadRequestException",
                f"The request is rejected because the account {admin} is not the delegated administrator.",
            )
        gd.admin_account_ids.remove(admin)
        with _STATE.lock:
            for key in [k for k in _STATE.org_configs if k[0] == admin and k[1] == request.region]:
                del _STATE.org_configs[key]
        if admin not in _gd_admins_anywhere(request.account):
            try:
                backend.deregister_delegated_administrator(AccountId=admin, ServicePrincipal="guardduty.amazonaws.com")
            except Exception:  # registered by hand and removed meanwhile: nothing to undo
                pass
        return _json_answer("guardduty", {})

    def _gd_admin_config(self, request: _Request, detector_id: str) -> dict[str, Any]:
        if detector_id not in _gd_backend(request.account, request.region).detectors:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the input detectorId is not owned by the current account.",
            )
        management = _management_of(request.account)
        if management is None or request.account not in _gd_backend(management, request.region).admin_account_ids:
            raise ApiError(
                "BadRequestException",
                "The request is rejected because the current account is not the GuardDuty delegated administrator of the organization in this Region.",
            )
        with _STATE.lock:
            return _STATE.org_configs.setdefault(
                (request.account, request.region, detector_id), {"members": "NONE", "management": management}
            )

    def _gd_update_org_config(self, request: _Request, config: dict[str, Any]) -> Any:
        params = request.json()
        members = params.get("autoEnableOrganizationMembers")
        if members is None and "autoEnable" in params:
            members = "NEW" if params["autoEnable"] else "NONE"
        if members is not None:
            if members not in ("NEW", "ALL", "NONE"):
                raise ApiError(
                    "BadRequestException",
                    "The request is rejected because an invalid or out-of-range value is specified as an input parameter.",
                )
            if members != config["members"]:
                # Who was there when it was set: NEW leaves them alone, ALL enables them too.
                config["existing"] = _organization_members(config["management"])
            config["members"] = members
        if "dataSources" in params:
            config["dataSources"] = params["dataSources"]
        if "features" in params:
            config["features"] = params["features"]
        _gd_auto_enable()
        return _json_answer("guardduty", {})

    def _gd_list_members(self, request: _Request, detector_id: str, config: dict[str, Any]) -> Any:
        members = []
        if config["members"] == "ALL":
            pending = _pending_accounts(config["management"])
            for account in _org_backend(config["management"]).accounts:
                if account.id == request.account or account.status != "ACTIVE" or account.id in pending:
                    continue
                members.append(
                    {
                        "accountId": account.id,
                        "masterId": request.account,
                        "administratorId": request.account,
                        "email": account.email,
                        "relationshipStatus": "Enabled",
                        "invitedAt": _iso(_now()),
                        "updatedAt": _iso(_now()),
                    }
                )
        return _json_answer("guardduty", {"members": members})

    def _gd_tags(self, request: _Request, method: str, arn: str) -> Any:
        from urllib.parse import unquote

        arn = unquote(arn)
        match = re.fullmatch(r"arn:aws[a-z-]*:guardduty:([a-z0-9-]+):(\d{12}):detector/([0-9a-f]+)", arn)
        detector = None
        if match and match.group(2) == request.account:
            detector = _gd_backend(request.account, match.group(1)).detectors.get(match.group(3))
        if detector is None:
            raise ApiError("BadRequestException", f"The request is rejected because the resource {arn} was not found.")
        if method == "GET":
            return _json_answer("guardduty", {"tags": dict(detector.tags)})
        if method == "POST":
            detector.tags.update(request.json().get("tags", {}))
        elif method == "DELETE":
            from urllib.parse import parse_qs

            for key in parse_qs(request.environ.get("QUERY_STRING", "")).get("tagKeys", []):
                detector.tags.pop(key, None)
        return "204 No Content", [("Content-Length", "0")], b""

    # ------------------------------------------------------------------------ cloudtrail
    def _cloudtrail(self, request: _Request) -> Any:
        operation = request.environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(CLOUDTRAIL_TARGET)
        if operation == "DeleteTrail":
            return self._delete_trail(request)
        if operation in ("DescribeTrails", *_TRAIL_READS):
            return self._member_view(request, operation)
        if operation not in ("CreateTrail", "UpdateTrail"):
            return None
        params = request.json()
        existing = None
        if operation == "UpdateTrail":
            existing = _trail(request.account, request.region, str(params.get("Name", "")))
            if existing is None:
                return None
        organization_trail = params.get("IsOrganizationTrail", getattr(existing, "is_org_trail", False))
        backend = _org_backend(request.account)
        if organization_trail:
            if backend.org is None:
                management = _management_of(request.account)
                if management is None:
                    raise ApiError("OrganizationsNotInUseException", "This account is not a member of an organization.")
                raise ApiError(
                    "NotOrganizationMasterAccountException",
                    "The request was rejected because the current account is not the management account of the organization.",
                )
            if backend.org.feature_set != "ALL":
                raise ApiError(
                    "OrganizationNotInAllFeaturesModeException",
                    "This operation is not permitted when the organization does not have all features enabled.",
                )
            if not _service_enabled(backend, "cloudtrail.amazonaws.com"):
                raise ApiError(
                    "CloudTrailAccessNotEnabledException",
                    "This operation is not permitted because CloudTrail trusted access with AWS Organizations is not enabled.",
                )
        bucket = params.get("S3BucketName") or getattr(existing, "bucket_name", None)
        prefix = params.get("S3KeyPrefix") or getattr(existing, "s3_key_prefix", None)
        if bucket and ("S3BucketName" in params or "IsOrganizationTrail" in params or existing is None):
            org_id = backend.org.id if (organization_trail and backend.org is not None) else None
            _check_trail_bucket(request.account, str(bucket), prefix, org_id)
        if params.get("KmsKeyId"):
            _check_trail_key(request.account, request.region, str(params["KmsKeyId"]), str(bucket or ""))
        return None

    def _member_view(self, request: _Request, operation: str) -> Any:
        """A member account sees its organization's trails (moto: the management account only)."""
        management = _management_of(request.account)
        if management is None or management == request.account:
            return None
        trails = _organization_trails(management, request.region)
        if not trails:
            return None
        params = request.json()
        if operation in _TRAIL_READS:
            name = str(params.get(_TRAIL_READS[operation], ""))
            if _trail(request.account, request.region, name) is not None:
                return None
            trail = next((t for t in trails if name in (t.trail_name, t.arn)), None)
            if trail is None:
                return None
            if operation == "GetTrailStatus":  # moto finds it by ARN in any region of its account
                return self._forward(request, as_account=management)
            if operation == "GetTrail":
                return _json_answer("cloudtrail", {"Trail": trail.description(include_region=True)})
            if operation == "GetInsightSelectors":
                return _json_answer(
                    "cloudtrail", {"TrailARN": trail.arn, "InsightSelectors": trail.get_insight_selectors()}
                )
            selectors, advanced = trail.get_event_selectors()
            answer = {"TrailARN": trail.arn, "EventSelectors": selectors}
            if advanced:
                answer["AdvancedEventSelectors"] = advanced
            return _json_answer("cloudtrail", answer)
        status, headers, data = self._forward(request)
        if not status.startswith("200"):
            return status, headers, data
        answer = json.loads(data)
        wanted = params.get("trailNameList") or []
        listed = {t.get("TrailARN") for t in answer.get("trailList", [])}
        for trail in trails:
            if trail.arn in listed or (wanted and not ({trail.trail_name, trail.arn} & set(wanted))):
                continue
            if params.get("includeShadowTrails") is False and trail.region_name != request.region:
                continue
            answer.setdefault("trailList", []).append(trail.description(include_region=True))
        return _json_answer("cloudtrail", answer)

    def _delete_trail(self, request: _Request) -> Any:
        """AWS takes a name or an ARN; moto deletes only by name (and answers 200 for an ARN)."""
        name = str(request.json().get("Name", ""))
        trail = _trail(request.account, request.region, name)
        if trail is None:
            raise ApiError("TrailNotFoundException", f"Unknown trail: {name} for the user: {request.account}")
        from moto.cloudtrail.models import cloudtrail_backends

        cloudtrail_backends[request.account][request.region].trails.pop(trail.trail_name, None)
        return _json_answer("cloudtrail", {})


# ------------------------------------------------------------------------------ helpers
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _org_backend(account: str) -> Any:
    from moto.organizations.models import organizations_backends

    return organizations_backends[account]["aws"]


def _management_of(account: str) -> str | None:
    """The management account of the organization `account` is in, or None."""
    from moto.organizations.models import organizations_backends

    if _org_backend(account).org is not None:
        return account
    entry = organizations_backends.master_accounts.get(account)
    if entry is None:
        return None
    management = entry[0]
    member = next((a for a in _org_backend(management).accounts if a.id == account), None)
    if member is None or account in _pending_accounts(management):
        return None
    return str(management)


def _service_enabled(backend: Any, principal: str) -> bool:
    return any(s.get("ServicePrincipal") == principal for s in backend.services)


def _is_delegated_admin(management: str, account: str) -> bool:
    return any(d.account.id == account and d.services for d in _org_backend(management).admins)


def _creations() -> list[_Creation]:
    with _STATE.lock:
        return list(_STATE.creations.values())


def _pending_accounts(management: str) -> set[str]:
    return {c.account_id for c in _creations() if c.management == management and c.pending_account and c.account_id}


def _policy(management: str, policy_id: Any) -> Any:
    return next((p for p in _org_backend(management).policies if p.id == policy_id), None)


def _check_scp(content: Any) -> None:
    if not isinstance(content, str):
        raise ApiError(
            "MalformedPolicyDocumentException",
            "The provided policy document doesn't meet the requirements of the specified policy type.",
        )
    if len(content) > MAX_SCP_CHARACTERS:
        raise ApiError(
            "ConstraintViolationException",
            f"You have exceeded the maximum size of a policy document ({MAX_SCP_CHARACTERS} characters).",
            Reason="POLICY_CONTENT_LIMIT_EXCEEDED",
        )
    try:
        document = json.loads(content)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), (list, dict)):
        raise ApiError(
            "MalformedPolicyDocumentException",
            "The provided policy document doesn't meet the requirements of the specified policy type.",
        )


def _gd_backend(account: str, region: str) -> Any:
    from moto.guardduty.models import guardduty_backends

    return guardduty_backends[account][region]


def _gd_admins_anywhere(management: str) -> set[str]:
    from moto.guardduty.models import guardduty_backends

    admins: set[str] = set()
    try:
        regions = list(guardduty_backends[management].keys())
    except Exception:
        regions = []
    for region in regions:
        admins.update(guardduty_backends[management][region].admin_account_ids)
    return admins


def _organization_members(management: str) -> set[str]:
    """The organization's active accounts (management included), creations in progress excepted."""
    pending = _pending_accounts(management)
    return {a.id for a in _org_backend(management).accounts if a.status == "ACTIVE" and a.id not in pending}


def _gd_auto_enable() -> None:
    """Give the accounts auto-enable covers their detector (see the module docstring)."""
    with _STATE.lock:
        configs = [(key, config) for key, config in _STATE.org_configs.items() if config["members"] in ("ALL", "NEW")]
    for (admin, region, _detector), config in configs:
        management = config["management"]
        if _management_of(admin) != management:
            continue
        enabled = config.setdefault("enabled", set())
        existing = config.get("existing", set())
        for account in sorted(_organization_members(management) - enabled - {admin}):
            if config["members"] == "NEW" and account in existing:
                continue
            backend = _gd_backend(account, region)
            if not backend.detectors:
                backend.create_detector(True, "SIX_HOURS", {}, {}, [])
            enabled.add(account)


def _organization_trails(management: str, region: str) -> list[Any]:
    """The management account's organization trails a member sees in `region`."""
    from moto.cloudtrail.models import cloudtrail_backends

    found = []
    for backend in cloudtrail_backends[management].values():
        for trail in backend.trails.values():
            if trail.is_org_trail and (trail.is_multi_region or trail.region_name == region):
                found.append(trail)
    return found


def _describe_org_config(config: dict[str, Any]) -> dict[str, Any]:
    members = config["members"]
    enabled = "NEW" if members in ("NEW", "ALL") else "NONE"
    return {
        "autoEnable": members in ("NEW", "ALL"),
        "memberAccountLimitReached": False,
        "autoEnableOrganizationMembers": members,
        "dataSources": config.get("dataSources")
        or {
            "s3Logs": {"autoEnable": False},
            "kubernetes": {"auditLogs": {"autoEnable": False}},
            "malwareProtection": {"scanEc2InstanceWithFindings": {"ebsVolumes": {"autoEnable": False}}},
        },
        "features": config.get("features")
        or [
            {"name": "S3_DATA_EVENTS", "autoEnable": enabled},
            {"name": "EKS_AUDIT_LOGS", "autoEnable": enabled},
        ],
    }


def _trail(account: str, region: str, name: str) -> Any:
    from moto.cloudtrail.models import cloudtrail_backends

    backend = cloudtrail_backends[account][region]
    for trail in backend.trails.values():
        if name in (trail.trail_name, trail.arn):
            return trail
    return None


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, dict)]


def _allows(statement: dict[str, Any], service: str, action: str, resource: str | None) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal", {})
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    services = [services] if isinstance(services, str) else services
    if principal != "*" and service not in services:
        return False
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if resource is None:
        return True
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatch.fnmatchcase(resource, r) for r in resources)


def _check_trail_bucket(account: str, bucket_name: str, prefix: str | None, org_id: str | None) -> None:
    from moto.s3.models import s3_backends

    bucket = s3_backends[account]["aws"].buckets.get(bucket_name)
    if bucket is None:
        return  # moto answers S3BucketDoesNotExistException itself
    statements = _statements(bucket.policy) if bucket.policy else []
    base = f"arn:aws:s3:::{bucket_name}"
    logs = f"{base}/{prefix.strip('/') + '/' if prefix else ''}AWSLogs"
    owner = org_id or account
    acl = any(_allows(s, "cloudtrail.amazonaws.com", "s3:GetBucketAcl", base) for s in statements)
    put = any(
        _allows(s, "cloudtrail.amazonaws.com", "s3:PutObject", f"{logs}/{owner}/{account}/CloudTrail/x.json.gz")
        for s in statements
    )
    if not (acl and put):
        raise ApiError(
            "InsufficientS3BucketPolicyException", f"Incorrect S3 bucket policy is detected for bucket: {bucket_name}"
        )


def _check_trail_key(account: str, region: str, key_id: str, bucket_name: str) -> None:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(key_id)
    except Exception:
        raise ApiError("KmsKeyNotFoundException", f"KMS key {key_id} not found.") from None
    if not any(_allows(s, "cloudtrail.amazonaws.com", "kms:GenerateDataKey", None) for s in _statements(key.policy)):
        raise ApiError(
            "InsufficientEncryptionPolicyException",
            f"Insufficient permissions to access S3 bucket {bucket_name} or KMS key {key.arn}.",
        )


def _json_answer(service: str, payload: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
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


def _error(start_response: Callable[..., Any], service: str, exc: ApiError) -> list[bytes]:
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
