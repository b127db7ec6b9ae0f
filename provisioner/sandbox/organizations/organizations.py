"""Organizations: CreateAccount with its latency and quota, reads that hide accounts still
being created, OUs, SCPs (checked, stored, not enforced), MoveAccount, delegated admins' reads."""

from __future__ import annotations

import json
import secrets
from typing import Any

from provisioner.sandbox import accounts_ready
from provisioner.sandbox.organizations import models
from provisioner.sandbox.organizations.models import (
    ACCESS_DENIED,
    ANYONE,
    CREATE_ACCOUNT_SECONDS,
    MAX_SCP_CHARACTERS,
    MEMBER,
    NOT_IN_USE,
    ORGANIZATIONS_TARGET,
    STATE,
    ApiError,
    Creation,
    Forwarder,
    Request,
    all_creations,
    is_delegated_admin,
    json_answer,
    management_of,
    org_backend,
    pending_accounts,
    snake,
)


class Organizations(Forwarder):
    """Organizations calls of management, delegated administrator and member accounts."""

    def handle(self, request: Request) -> Any:
        operation = request.environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(ORGANIZATIONS_TARGET)
        management = management_of(request.account)
        if management is None:
            if operation in ANYONE:
                return None
            raise ApiError("AWSOrganizationsNotInUseException", NOT_IN_USE)
        if management != request.account:
            if operation in MEMBER:
                return None
            if operation.startswith(("Describe", "List")) and is_delegated_admin(management, request.account):
                return self._organizations_read(request, operation, management, as_account=management)
            raise ApiError("AccessDeniedException", ACCESS_DENIED)
        handler = getattr(self, f"_org_{snake(operation)}", None)
        if handler is not None:
            return handler(request, management)
        return self._organizations_read(request, operation, management)

    def _organizations_read(
        self, request: Request, operation: str, management: str, as_account: str | None = None
    ) -> Any:
        """Reads hide accounts whose creation is still in progress."""
        if operation in (
            "ListAccounts",
            "ListAccountsForParent",
            "ListCreateAccountStatus",
            "DescribeCreateAccountStatus",
            "DescribeAccount",
        ):
            return getattr(self, f"_org_{snake(operation)}")(request, management, as_account)
        if as_account is None:
            return None
        return self._forward(request, as_account)

    def _org_create_account(self, request: Request, management: str) -> Any:
        params = request.json()
        email, name = str(params.get("Email", "")), str(params.get("AccountName", ""))
        backend = org_backend(management)
        now = models.now()
        ready_at = now + CREATE_ACCOUNT_SECONDS * models.LATENCY_SCALE
        failure = None
        with STATE.lock:  # the checks and the reservation are one step: creations run concurrently
            in_flight = [e for m, e in STATE.in_flight if m == management]
            # moto lists an account (even one still IN_PROGRESS here) as soon as it makes it
            if email.lower() in {a.email.lower() for a in backend.accounts} | set(in_flight):
                failure = "EMAIL_ALREADY_EXISTS"
            elif len(backend.accounts) + len(in_flight) >= models.ACCOUNT_LIMIT:
                failure = "ACCOUNT_LIMIT_EXCEEDED"
            else:
                STATE.in_flight.append((management, email.lower()))
        if failure:
            creation = Creation(f"car-{secrets.token_hex(16)}", management, name, email, now, ready_at, failure=failure)
        else:
            try:
                status, headers, data = self._forward(request)
            finally:
                with STATE.lock:
                    STATE.in_flight.remove((management, email.lower()))
            if not status.startswith("200"):
                return status, headers, data
            moto_status = json.loads(data)["CreateAccountStatus"]
            creation = Creation(
                moto_status["Id"], management, name, email, now, ready_at, account_id=moto_status["AccountId"]
            )
            if models.LATENCY_SCALE > 0:  # the IN_PROGRESS window: moto's set-up moves into it
                accounts_ready.prepare(str(moto_status["AccountId"]), management)
        with STATE.lock:
            STATE.creations[creation.id] = creation
        first = {"Id": creation.id, "AccountName": name, "State": "IN_PROGRESS", "RequestedTimestamp": now}
        return json_answer("organizations", {"CreateAccountStatus": first})

    def _org_describe_create_account_status(
        self, request: Request, management: str, as_account: str | None = None
    ) -> Any:
        request_id = request.json().get("CreateAccountRequestId")
        creation = STATE.creations.get(str(request_id))
        if creation is None or creation.management != management:
            return self._forward(request, as_account) if as_account else None
        return json_answer("organizations", {"CreateAccountStatus": creation.status()})

    def _org_list_create_account_status(self, request: Request, management: str, as_account: str | None = None) -> Any:
        wanted = request.json().get("States") or ["IN_PROGRESS", "SUCCEEDED", "FAILED"]
        status, headers, data = self._forward(request, as_account)
        if not status.startswith("200"):
            return status, headers, data
        answer = json.loads(data)
        ours = {c.id: c for c in all_creations() if c.management == management}
        statuses = [s for s in answer.get("CreateAccountStatuses", []) if s.get("Id") not in ours]
        statuses += [c.status() for c in ours.values()]
        answer["CreateAccountStatuses"] = [s for s in statuses if s.get("State") in wanted]
        return json_answer("organizations", answer)

    def _org_list_accounts(self, request: Request, management: str, as_account: str | None = None) -> Any:
        return self._without_pending(request, management, as_account)

    def _org_list_accounts_for_parent(self, request: Request, management: str, as_account: str | None = None) -> Any:
        return self._without_pending(request, management, as_account)

    def _without_pending(self, request: Request, management: str, as_account: str | None) -> Any:
        status, headers, data = self._forward(request, as_account)
        if not status.startswith("200"):
            return status, headers, data
        pending = pending_accounts(management)
        answer = json.loads(data)
        answer["Accounts"] = [a for a in answer.get("Accounts", []) if a.get("Id") not in pending]
        return json_answer("organizations", answer)

    def _org_describe_account(self, request: Request, management: str, as_account: str | None = None) -> Any:
        if request.json().get("AccountId") in pending_accounts(management):
            raise ApiError("AccountNotFoundException", "You specified an account that doesn't exist.")
        return self._forward(request, as_account) if as_account else None

    def _org_create_organizational_unit(self, request: Request, management: str) -> Any:
        params = request.json()
        backend = org_backend(management)
        for unit in backend.ou:
            if unit.parent_id == params.get("ParentId") and unit.name == params.get("Name"):
                raise ApiError("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")
        return None

    def _org_delete_organizational_unit(self, request: Request, management: str) -> Any:
        unit_id = request.json().get("OrganizationalUnitId")
        backend = org_backend(management)
        if any(u.parent_id == unit_id for u in backend.ou) or any(a.parent_id == unit_id for a in backend.accounts):
            raise ApiError(
                "OrganizationalUnitNotEmptyException",
                "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all "
                "child OUs, and try the operation again.",
            )
        return None

    def _org_create_policy(self, request: Request, management: str) -> Any:
        params = request.json()
        if params.get("Type") == "SERVICE_CONTROL_POLICY":
            _check_scp(params.get("Content"))
        return None

    def _org_update_policy(self, request: Request, management: str) -> Any:
        params = request.json()
        if "Content" in params:
            policy = _policy(management, params.get("PolicyId"))
            if policy is not None and policy.type == "SERVICE_CONTROL_POLICY":
                _check_scp(params.get("Content"))
        return None

    def _org_attach_policy(self, request: Request, management: str) -> Any:
        params = request.json()
        policy = _policy(management, params.get("PolicyId"))
        if policy is None:
            return None
        backend = org_backend(management)
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

    def _org_detach_policy(self, request: Request, management: str) -> Any:
        params = request.json()
        policy = _policy(management, params.get("PolicyId"))
        if policy is not None and not any(getattr(t, "id", None) == params.get("TargetId") for t in policy.attachments):
            raise ApiError(
                "PolicyNotAttachedException", "The policy isn't attached to the specified target in the specified root."
            )
        return None

    def _org_move_account(self, request: Request, management: str) -> Any:
        params = request.json()
        account = next((a for a in org_backend(management).accounts if a.id == params.get("AccountId")), None)
        if account is None or account.id in pending_accounts(management):
            raise ApiError("AccountNotFoundException", "You specified an account that doesn't exist.")
        if account.parent_id != params.get("SourceParentId"):
            raise ApiError(
                "SourceParentNotFoundException",
                "We can't find a source root or OU with the ParentId that you specified.",
            )
        if account.parent_id == params.get("DestinationParentId"):
            raise ApiError("DuplicateAccountException", "That account is already present in the specified destination.")
        return None


def _policy(management: str, policy_id: Any) -> Any:
    return next((p for p in org_backend(management).policies if p.id == policy_id), None)


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
