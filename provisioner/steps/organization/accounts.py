"""organizations:account: the member accounts, created once, found by email, never closed.

- Identity is the email address: AWS allows one account per email, so an account of the
  organization with the plan's email IS that plan account, whether this tool made it or
  someone did by hand (it is adopted: tagged and moved into its OU). A second account is
  never created for an email (SPEC section 5's "never duplicated").
- CreateAccount is asynchronous and takes no idempotency token: it answers IN_PROGRESS and
  DescribeCreateAccountStatus is polled (latency-model.md: p50 90 s, p95 300 s) until
  SUCCEEDED or FAILED. Before creating, a creation still IN_PROGRESS for the same account name
  (a run interrupted while waiting) is resumed instead of started again.
- A FAILED creation is not an API error: its FailureReason says why, and is turned into a
  message that says what to do next (FAILURE_HINTS).
- New accounts start under the root; MoveAccount puts them into their OU, and moves an account
  whose OU changed in the plan or by hand.
- Accounts are never closed by destroy (closing is irreversible for 90 days and takes the
  workloads with it): "delete" leaves the account and says so. For the same reason discovery
  reads only the plan's accounts (matched by email), never every account's tags, and an
  account dropped from the plan is simply no longer managed.
- The account name is used at creation only: renaming needs the Account Management API's
  trusted access, which this step does not enable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.tags import to_list
from provisioner.aws.waiters import since, wait_for
from provisioner.engine import Live, PermanentError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.organization import _orgs

CREATE_TIMEOUT = 900.0  # p95 300 s, with margin: a new account can take several minutes

# FailureReason (DescribeCreateAccountStatus) -> what it means and what to do next.
FAILURE_HINTS: dict[str, tuple[str, str]] = {
    "EMAIL_ALREADY_EXISTS": (
        "the email address is already used by another AWS account (outside this organization, or closed less than 90 days ago)",
        "invite that account into the organization (InviteAccountToOrganization) and apply again, or give the account another email in organization.yaml",
    ),
    "ACCOUNT_LIMIT_EXCEEDED": (
        "the organization has reached its quota of accounts",
        "request a higher 'Default maximum number of accounts' in Service Quotas (AWS Organizations), or close unused accounts, then apply again",
    ),
    "INVALID_EMAIL": ("AWS rejected the email address", "fix the account's email in organization.yaml"),
    "INVALID_ADDRESS": (
        "AWS rejected the management account's address",
        "correct the contact address of the management account, then apply again",
    ),
    "CONCURRENT_ACCOUNT_MODIFICATION": (
        "another change to the organization's accounts was running at the same time",
        "apply again in a minute",
    ),
    "INTERNAL_FAILURE": ("AWS failed internally", "apply again; if it keeps failing, contact AWS Support"),
    "GOVCLOUD_ACCOUNT_ALREADY_EXISTS": (
        "a GovCloud account is already linked to this email",
        "use another email in organization.yaml",
    ),
    "MISSING_BUSINESS_VALIDATION": (
        "the management account has not completed business validation",
        "complete the validation AWS asked for by email, then apply again",
    ),
    "FAILED_BUSINESS_VALIDATION": ("the management account failed business validation", "contact AWS Support"),
    "PENDING_BUSINESS_VALIDATION": (
        "the management account's business validation is still pending",
        "wait for AWS to finish the validation, then apply again",
    ),
    "INVALID_IDENTITY_FOR_BUSINESS_VALIDATION": (
        "the identity given for business validation was refused",
        "contact AWS Support",
    ),
    "UNKNOWN_BUSINESS_VALIDATION": ("business validation failed for an unknown reason", "contact AWS Support"),
    "MISSING_PAYMENT_INSTRUMENT": (
        "the management account has no valid payment method",
        "add a payment method to the management account, then apply again",
    ),
    "INVALID_PAYMENT_INSTRUMENT": (
        "the management account's payment method was refused",
        "update the payment method of the management account, then apply again",
    ),
}


def failure_message(reason: str | None) -> tuple[str, str]:
    what, hint = FAILURE_HINTS.get(
        reason or "", (f"AWS reported {reason or 'no reason'}", "see the AWS Organizations console, then apply again")
    )
    return what, hint


@dataclass(kw_only=True)
class Account(Resource):
    account_name: str
    email: str
    ou: str  # node key of the OU
    role_name: str = "OrganizationAccountAccessRole"

    type = "organizations:account"
    iam_actions = (
        "organizations:ListAccounts",
        "organizations:DescribeAccount",
        "organizations:ListParents",
        "organizations:ListTagsForResource",
        "organizations:CreateAccount",
        "organizations:DescribeCreateAccountStatus",
        "organizations:ListCreateAccountStatus",
        "organizations:MoveAccount",
        "organizations:TagResource",
        "organizations:DescribeOrganization",
        "iam:CreateServiceLinkedRole",
    )
    # CreateAccount needs Organizations' service-linked role (made if missing).
    linked_services = ("organizations.amazonaws.com",)
    create_seconds = 90.0
    delete_seconds = 0.0

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        by_email = {node.email.lower(): node for node in _orgs.nodes_of(ctx, cls)}
        poll = _orgs.client(ctx, "poll")
        lives = []
        for account in _orgs.accounts(ctx):
            node = by_email.get(str(account.get("Email", "")).lower())
            if node is None:
                continue
            parents = poll.list_parents(ChildId=account["Id"]).get("Parents", [])
            # Matched without case (Organizations keeps the case an address was given in): the
            # item carries the plan's spelling, so a case alone is never a change.
            item = {**account, "Email": node.email, "Parents": parents}
            lives.append(
                Live(
                    key=node.key,
                    id=account["Id"],
                    tags=_orgs.tags_of(ctx, account["Id"]),
                    raw=account,
                    fields=cls.observe(item),
                    outputs=_outputs(account),
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeAccount's account (from ListAccounts) with ListParents' `Parents`."""
        parents = item.get("Parents") or []
        return {
            "email": item["Email"],
            "parent_id": parents[0]["Id"] if parents else None,
            "status": item.get("Status", "ACTIVE"),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"email": self.email, "parent_id": refs.id(self.ou), "status": "ACTIVE"}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        _orgs.require_organization(ctx, self.key)
        request_id = self._in_progress(ctx)
        resumed = request_id is not None
        requested = ctx.clock.now() if ctx.clock else 0.0
        if resumed:
            ctx.progress(self.key, f"resuming the creation of account {self.account_name!r} ({request_id})")
        else:
            status = _orgs.call(
                ctx,
                self.key,
                "create_account",
                Email=self.email,
                AccountName=self.account_name,
                RoleName=self.role_name,
                IamUserAccessToBilling="ALLOW",
                Tags=to_list(ctx.tags_for(self)),
            )["CreateAccountStatus"]
            request_id = status["Id"]
        assert request_id is not None
        status = self._wait(ctx, request_id, 0.0 if resumed else since(ctx, requested))
        account_id = status["AccountId"]
        account = _orgs.client(ctx, "poll").describe_account(AccountId=account_id)["Account"]
        ctx.memo.pop(("organizations", "accounts"), None)
        root = _orgs.root(ctx) or {}
        live = Live(
            key=self.key,
            id=account_id,
            tags=ctx.tags_for(self),
            raw=account,
            fields={"email": self.email, "parent_id": root.get("Id"), "status": "ACTIVE"},
            outputs=_outputs(account),
        )
        if live.fields["parent_id"] != want["parent_id"]:
            self._move(ctx, live, want["parent_id"])
        if resumed:  # tags the interrupted request was given may be an older plan's
            _orgs.tag(ctx, self.key, account_id, ctx.tags_for(self))
        return live

    def _in_progress(self, ctx: RunContext) -> str | None:
        """A creation of this account that an interrupted run left IN_PROGRESS."""
        statuses = describe_all(
            _orgs.client(ctx, "poll"), "list_create_account_status", "CreateAccountStatuses", States=["IN_PROGRESS"]
        )
        for status in statuses:
            if status.get("AccountName") == self.account_name:
                return str(status["Id"])
        return None

    def _wait(self, ctx: RunContext, request_id: str, already: float = 0.0) -> dict[str, Any]:
        poller = _orgs.client(ctx, "poll")
        last: dict[str, Any] = {}

        def state() -> str | None:
            last.clear()
            last.update(poller.describe_create_account_status(CreateAccountRequestId=request_id)["CreateAccountStatus"])
            return str(last.get("State"))

        wait_for(
            ctx,
            key=self.key,
            what=f"account {self.account_name} ({request_id})",
            read_state=state,
            done={"SUCCEEDED", "FAILED"},
            timeout=CREATE_TIMEOUT,
            expected=self.create_seconds,
            already=already,
        )
        if last.get("State") == "FAILED":
            reason = last.get("FailureReason")
            what, hint = failure_message(reason)
            raise PermanentError(
                f"AWS could not create account {self.account_name!r} <{self.email}>: {what}",
                key=self.key,
                code=reason or "FAILED",
                hint=hint,
            )
        return last

    def _move(self, ctx: RunContext, have: Live, destination: str) -> None:
        _orgs.call(
            ctx,
            self.key,
            "move_account",
            AccountId=have.id,
            SourceParentId=have.fields["parent_id"],
            DestinationParentId=destination,
        )
        ctx.progress(self.key, f"moved account {have.id} into {destination}")
        have.fields["parent_id"] = destination

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "status" in diff:
            raise PermanentError(
                f"account {have.id} <{self.email}> is {have.fields.get('status')}, not ACTIVE",
                key=self.key,
                code="AccountNotActive",
                hint="a closed account can be reopened through AWS Support within 90 days; otherwise give this account another email",
            )
        if "parent_id" in diff:
            self._move(ctx, have, want["parent_id"])
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        _orgs.tag(ctx, self.key, have.id, tags)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        _orgs.kept(
            ctx, have, "accounts are never closed by provisioner; close it in the AWS console if you really mean to"
        )


def _outputs(account: dict[str, Any]) -> dict[str, Any]:
    return {"arn": account.get("Arn"), "email": account.get("Email"), "name": account.get("Name")}
