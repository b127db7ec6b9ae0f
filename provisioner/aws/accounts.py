"""Cross-account execution: every plan runs in its own account (SPEC section 2, issue 6).

The credentials a user starts with are the management account's (or a profile that already
points at the plan's account). For a plan that names its account:

1. the account id is the plan's `account` when it is 12 digits, else it is found in
   Organizations by the email `organization.yaml` gives that account key (one ListAccounts);
2. if the credentials already act in that account, they are used as they are (a `--profile`
   for the member account);
3. otherwise the organization access role (`OrganizationAccountAccessRole` unless
   `organization.yaml` names another) is assumed in it, and the run uses that session.

An account that does not exist yet is not an error to work around: the run stops before any
change and names the plan that creates it.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any

from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.session import AwsSession
from provisioner.engine import PermanentError
from provisioner.planfile import OrganizationPlan, Plan

DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"

_cache_lock = threading.Lock()
_accounts_cache: weakref.WeakKeyDictionary[AwsSession, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


class AccountNotReady(PermanentError):
    """The plan's account does not exist (yet)."""


def organization_account_ids(session: AwsSession, plan: Plan) -> dict[str, str]:
    """Account key -> id for the accounts of organization.yaml that exist (one ListAccounts);
    empty when there is no organization or these credentials may not read it."""
    organization = plan.organization
    if organization is None:
        return {}
    try:
        accounts = list_accounts(session)
    except ClientError:
        return {}
    by_email = {a.get("Email", "").lower(): str(a["Id"]) for a in accounts if a.get("Status") == "ACTIVE"}
    return {
        key: by_email[spec.email.lower()]
        for key, spec in organization.accounts.items()
        if spec.email.lower() in by_email
    }


def target_account_id(session: AwsSession, plan: Plan) -> str | None:
    """The account the plan acts in; None for an organization plan (the management account)."""
    if isinstance(plan.spec, OrganizationPlan):
        return None
    ref = plan.spec.account
    if re.fullmatch(r"\d{12}", ref):
        return ref
    organization = plan.organization
    if organization is None or ref not in organization.accounts:
        raise PermanentError(f"plan {plan.name}: account {ref!r} is not in organization.yaml")
    email = organization.accounts[ref].email.lower()
    try:
        accounts = list_accounts(session)
    except ClientError as exc:
        code = error_code(exc)
        if code == "AWSOrganizationsNotInUseException":
            raise AccountNotReady(
                f"account {ref!r} does not exist yet: account {session.account_id} has no AWS Organization",
                code=code,
                hint="run `provisioner apply organization` first (it creates the organization and its accounts)",
            ) from exc
        if code == "AccessDeniedException":
            raise PermanentError(
                f"cannot look up account {ref!r} in AWS Organizations from account {session.account_id}",
                code=code,
                hint="run with the management account's credentials, or with a --profile for the account "
                "and its 12-digit id as the plan's `account`",
            ) from exc
        raise
    for account in accounts:
        if account.get("Email", "").lower() == email and account.get("Status") == "ACTIVE":
            return str(account["Id"])
    raise AccountNotReady(
        f"account {ref!r} ({organization.accounts[ref].email}) does not exist yet in the organization",
        hint="run `provisioner apply organization` first: it creates the member accounts",
    )


def list_accounts(session: AwsSession) -> list[dict[str, Any]]:
    """The organization's accounts (ListAccounts, all pages), read once per session: finding
    the plan's account and the ids other plans' accounts are known by share one listing."""
    with _cache_lock:
        cached = _accounts_cache.get(session)
    if cached is None:
        org = session.client("organizations")
        cached = [a for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
        with _cache_lock:
            _accounts_cache[session] = cached
    return cached


def session_for_plan(session: AwsSession, plan: Plan) -> AwsSession:
    """A session acting in the plan's account (see the module docstring). It keeps the
    starting session as `management`, for the reads only the management account may make."""
    target = target_account_id(session, plan)
    member = session
    if target is not None and not _is_own_account(session, target):
        member = _assume_access_role(session, plan, target)
    member.management = session
    return member


def _assume_access_role(session: AwsSession, plan: Plan, target: str) -> AwsSession:
    """The organization access role in `target`, assumed from `session`; `session` itself when
    that fails because the session already acts in `target`."""
    role_name = plan.organization.access_role_name if plan.organization else DEFAULT_ACCESS_ROLE
    session_name = f"provisioner-{plan.name}"
    try:
        member = assume_role(session, target, role_name, session_name)
    except PermanentError:
        # Only `_is_own_account`'s guess can be wrong here: credentials of a delegated
        # administrator that is itself the plan's account (the access role trusts the
        # management account, so assuming it from there fails). They are used as they are, as
        # when GetCallerIdentity was read first.
        if session.account_id != target:
            raise
        return session
    # STS names an assumed role's principal arn:<p>:sts::<account>:assumed-role/<role>/<session>
    # (the role's path is left out), so the member session knows who it is without a
    # GetCallerIdentity of its own.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
    member._identity_cache = {
        "Account": target,
        "Arn": f"arn:{session.partition}:sts::{target}:assumed-role/{role_name}/{session_name[:64]}",
    }
    # The role was assumed by its exact ARN, so that is the caller's IAM ARN: no GetRole.
    member._role_arn_cache = f"arn:{session.partition}:iam::{target}:role/{role_name}"
    return member


def _is_own_account(session: AwsSession, target: str) -> bool:
    """Whether the session already acts in `target`, without a GetCallerIdentity where
    Organizations has answered it (issue #17): an account's ARN in ListAccounts names the
    management account (`arn:<p>:organizations::<management id>:account/o-<org>/<account id>`,
    Service Authorization Reference, "Resource types defined by AWS Organizations"), and only
    the management account or a delegated administrator may call ListAccounts. So the run's
    credentials are the management account's (the documented start) unless a delegated
    administrator's: a target other than the management account is then assumed into, and
    `session_for_plan` falls back to the session when that fails because it is the target.
    Without the listing (a plan that gives a 12-digit id), or when the target is the management
    account itself, the session's identity decides.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html
    """
    with _cache_lock:
        accounts = _accounts_cache.get(session)
    management = {arn.split(":")[4] for arn in (str(a.get("Arn", "")) for a in accounts or []) if arn.count(":") >= 5}
    if session.known_account_id is None and len(management) == 1 and target not in management:
        return False
    return target == session.account_id


def assume_role(session: AwsSession, account_id: str, role_name: str, session_name: str) -> AwsSession:
    role_arn = f"arn:{session.partition}:iam::{account_id}:role/{role_name}"
    try:
        return session.assume_role(role_arn, session_name)
    except ClientError as exc:
        raise PermanentError(
            f"cannot assume {role_arn}",
            code=error_code(exc),
            hint=f"the organization access role must exist in account {account_id} and trust the management account",
        ) from exc
