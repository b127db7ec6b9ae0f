"""Sessions in member accounts, through the organization access role.

A kind that acts in another account of the organization (the GuardDuty delegated
administrator's organization configuration) assumes the role CreateAccount made in every
member account (`OrganizationAccountAccessRole`, or the plan's `access_role_name`) with the
run's own credentials, which must be the management account's. The session is built by the
same factory as every other (`AwsSession`: standard retries, the run's endpoint, the journal)
and cached per account for the run: its clients name their region
(`session.client(service, region)`), so one AssumeRole serves every region of an account
(the baseline reaches each account in every allowed region at once).

- A new account's role can be refused for a few seconds after CreateAccount reports
  SUCCEEDED; AccessDenied is retried for up to a minute.
- The session comes from `AwsSession.assume_role`: its AssumeRole is made on an uncounted STS
  client (it changes nothing in AWS, so a converged apply still reports no mutating call),
  and its credentials refresh themselves before the role's hour runs out.
"""

from __future__ import annotations

from typing import Any

from provisioner.aws import AwsSession
from provisioner.aws.errors import ClientError, as_provisioner_error
from provisioner.aws.retry import eventually
from provisioner.engine import RunContext

ASSUME_PROPAGATION = frozenset({"AccessDenied", "AccessDeniedException"})


def access_role_name(ctx: RunContext) -> str:
    spec = ctx.plan.spec
    organization = getattr(ctx.plan, "organization", None) or spec
    return str(getattr(organization, "access_role_name", None) or "OrganizationAccountAccessRole")


def member_session(ctx: RunContext, account_id: str, region: str | None = None, *, key: str = "session") -> Any:
    """An AwsSession in `account_id` (the run's own session when that is the run's account).
    `region` is only the session's default: callers name the region of each client."""
    if account_id == ctx.aws.account_id:
        return ctx.aws
    region = ctx.region or region or "us-east-1"
    return ctx.cached(("member-session", account_id), lambda: _assume(ctx, account_id, region, key))


def _assume(ctx: RunContext, account_id: str, region: str, key: str) -> AwsSession:
    role_arn = f"arn:{ctx.aws.partition}:iam::{account_id}:role/{access_role_name(ctx)}"
    try:
        return eventually(
            ctx,
            lambda: ctx.aws.assume_role(role_arn, f"provisioner-{ctx.plan_name}", region=region),
            codes=ASSUME_PROPAGATION,
            key=key,
            what=f"assume {role_arn}",
            budget=60,
        )
    except ClientError as exc:
        raise as_provisioner_error(
            exc, key=key, hint=f"the run's credentials must be the management account's, allowed to assume {role_arn}"
        ) from exc
