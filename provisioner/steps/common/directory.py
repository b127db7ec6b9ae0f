"""organizations:accounts: the account ids of the organization plan's accounts, by key.

Plans name accounts by their key in organization.yaml (`development`); AWS needs 12-digit
ids, which exist only once the organization plan has created the accounts. This read-only
node looks them up (one paginated ListAccounts, matched by email, the accounts' identity) and
publishes them as outputs (`refs.get("organization/accounts", "development")`), in plan and
apply alike; it owns nothing.

Where the list comes from: Organizations answers ListAccounts only in the management account
and in member accounts that are a delegated administrator for some service. Shared Services
is GuardDuty's delegated administrator in organization.yaml, so the shared plan, run inside
it, can read the list itself. A run whose session carries a `management` session (the CLI's
cross-account mode sets it) reads through that instead, which works from any member account.

`expect` names the account the run itself must be in: a plan run with the wrong credentials
stops here, before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.engine import Live, PermanentError, Resource, RunContext

KEY = "organization/accounts"


def reader(ctx: RunContext) -> Any:
    """The session that may list the organization's accounts (see module docstring)."""
    return getattr(ctx.aws, "management", None) or ctx.aws


@dataclass(kw_only=True)
class AccountDirectory(Resource):
    # account key -> email, for the accounts this plan refers to
    emails: dict[str, str] = field(default_factory=dict)
    expect: str | None = None  # the account (key or 12-digit id) the run's credentials must be in

    type = "organizations:accounts"
    iam_actions = ("organizations:ListAccounts",)
    read_only = True
    taggable = False

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """A data source compares nothing: it publishes outputs (the ids, by key)."""
        return {}

    def read(self, ctx: RunContext) -> Live:
        session = reader(ctx)
        try:
            accounts = ctx.cached(
                ("organizations", "directory"),
                lambda: describe_all(session.client("organizations", purpose="poll"), "list_accounts", "Accounts"),
            )
        except ClientError as exc:
            code = error_code(exc)
            hint = (
                "apply the organization plan first"
                if code == "AWSOrganizationsNotInUseException"
                else "run with the management account's credentials, or from an account that is a delegated administrator "
                "of the organization (organization.yaml's guardduty.delegated_admin)"
            )
            raise PermanentError(
                f"cannot list the organization's accounts: {exc}", key=self.key, code=code, hint=hint
            ) from exc
        by_email = {str(a.get("Email", "")).lower(): a for a in accounts if a.get("Status") == "ACTIVE"}
        ids: dict[str, str] = {}
        missing = []
        for key, email in sorted(self.emails.items()):
            account = by_email.get(email.lower())
            if account is None:
                missing.append(f"{key} <{email}>")
            else:
                ids[key] = account["Id"]
        if missing:
            raise PermanentError(
                f"not in the organization (or not active): {', '.join(missing)}",
                key=self.key,
                code="AccountNotFound",
                hint="apply the organization plan first; it creates the accounts",
            )
        expected = self.expect if (self.expect or "").isdigit() else ids.get(self.expect or "")
        if self.expect is not None and ctx.aws.account_id != expected:
            raise PermanentError(
                f"this run's credentials are for account {ctx.aws.account_id}, but plan {ctx.plan_name} lives in "
                f"{self.expect} ({expected})",
                key=self.key,
                code="WrongAccount",
                hint=f"run it with credentials of the {self.expect} account (the organization access role)",
            )
        return Live(key=self.key, id=",".join(f"{k}={v}" for k, v in sorted(ids.items())), outputs=ids)


def directory_for(plan: Any, keys: list[str], expect: str | None = None) -> AccountDirectory:
    """The directory node for a member-account plan (shared, environment): `keys` are account
    keys of organization.yaml; 12-digit ids in plans need no lookup and are skipped."""
    organization = plan.organization
    emails = {}
    for key in keys:
        if key.isdigit():
            continue
        if organization is None or key not in organization.accounts:
            raise PermanentError(
                f"account {key!r} is not in organization.yaml",
                key=KEY,
                code="UnknownAccount",
                hint="an account key of organization.yaml, or a 12-digit account id",
            )
        emails[key] = organization.accounts[key].email
    return AccountDirectory(key=KEY, emails=emails, expect=expect)
