"""What the Organizations kinds share: the client, error mapping, tags and cached reads.

Organizations is a global service answered in us-east-1 (aws partition); its list calls are
paginated and throttled hard (a few calls per second), so reads every kind needs (the
organization, its root, its accounts) are made once per run through `ctx.cached`.
"""

from __future__ import annotations

from typing import Any

from provisioner.aws.calls import call as aws_call
from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import from_list, to_list
from provisioner.engine import Live, PermanentError, RunContext

# AWS's organization-wide codes that mean "there is no organization (yet)".
NO_ORGANIZATION = frozenset({"AWSOrganizationsNotInUseException"})
# Changing a root's policy types takes a moment (PENDING_ENABLE); attaching meanwhile fails.
POLICY_TYPE_PROPAGATION = frozenset({"PolicyTypeNotEnabledException"})


def client(ctx: RunContext, purpose: str = "mutate") -> Any:
    return ctx.aws.client("organizations", purpose=purpose)


def call(ctx: RunContext, key: str, operation: str, *, hint: str | None = None, **params: Any) -> dict[str, Any]:
    """Call an Organizations operation, mapping errors to the engine's taxonomy."""
    return aws_call(ctx, "organizations", operation, key=key, hint=hint or hint_for, **params)


def hint_for(exc: ClientError) -> str | None:
    code = error_code(exc)
    if code == "AccessDeniedException":
        return "run the organization plan with credentials of the organization's management account"
    if code in NO_ORGANIZATION:
        return "apply the organization plan first (it creates the organization)"
    if code == "ConstraintViolationException":
        reason = exc.response.get("Reason") or exc.response.get("Error", {}).get("Reason")
        return f"AWS refused a limit ({reason or 'see message'}); raise the quota in Service Quotas or change the plan"
    return None


def describe_organization(ctx: RunContext) -> dict[str, Any] | None:
    """The organization this account belongs to, or None (read once per run)."""

    def read() -> dict[str, Any] | None:
        try:
            return client(ctx, "poll").describe_organization()["Organization"]
        except ClientError as exc:
            if error_code(exc) in NO_ORGANIZATION:
                return None
            raise

    return ctx.cached(("organizations", "organization"), read)


def root(ctx: RunContext) -> dict[str, Any] | None:
    """The organization's root (id, policy types), or None without an organization."""
    if describe_organization(ctx) is None:
        return None
    roots = ctx.cached(("organizations", "roots"), lambda: describe_all(client(ctx, "poll"), "list_roots", "Roots"))
    return roots[0] if roots else None


def accounts(ctx: RunContext) -> list[dict[str, Any]]:
    """Every account of the organization (one paginated ListAccounts per run)."""
    if describe_organization(ctx) is None:
        return []
    return ctx.cached(
        ("organizations", "accounts"), lambda: describe_all(client(ctx, "poll"), "list_accounts", "Accounts")
    )


def tags_of(ctx: RunContext, resource_id: str) -> dict[str, str]:
    return from_list(describe_all(client(ctx, "poll"), "list_tags_for_resource", "Tags", ResourceId=resource_id))


def tag(ctx: RunContext, key: str, resource_id: str, tags: dict[str, str]) -> None:
    call(ctx, key, "tag_resource", ResourceId=resource_id, Tags=to_list(tags))


def nodes_of(ctx: RunContext, kind: type) -> list[Any]:
    return [node for node in ctx.nodes.values() if type(node) is kind]


def require_organization(ctx: RunContext, key: str) -> dict[str, Any]:
    organization = describe_organization(ctx)
    if organization is None:
        raise PermanentError(
            "this account is not in an organization",
            key=key,
            code="AWSOrganizationsNotInUseException",
            hint="apply the organization plan first (it creates the organization)",
        )
    return organization


def kept(ctx: RunContext, have: Live, why: str) -> None:
    """A delete that deliberately does nothing says so (in progress and the journal)."""
    ctx.progress(have.key, f"kept {have.id}: {why}")
    if ctx.journal is not None:
        ctx.journal.record("kept", key=have.key, id=have.id, reason=why)
