"""ram:organization-sharing: resource sharing within the organization, enabled from the
management account (issue 18: the Shared Services Transit Gateway is shared with the
environment accounts through AWS RAM).

`ram:EnableSharingWithAwsOrganization` makes RAM a trusted service of the organization
(`ram.amazonaws.com` in ListAWSServiceAccessForOrganization, which is how it is read back):
from then on, shares with accounts of the organization need no invitation to accept. Only
the management account may call it. Destroy keeps it: other shares may rely on it, and
turning it off does not unshare anything already shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error
from provisioner.engine import Live, Refs, Resource, RunContext
from provisioner.steps.organization import _orgs

RAM_PRINCIPAL = "ram.amazonaws.com"


@dataclass(kw_only=True)
class OrganizationSharing(Resource):
    type = "ram:organization-sharing"
    iam_actions = (
        "ram:EnableSharingWithAwsOrganization",
        "organizations:ListAWSServiceAccessForOrganization",
        "organizations:EnableAWSServiceAccess",
        "iam:CreateServiceLinkedRole",
    )
    # Enabling sharing with the organization makes RAM's service-linked role.
    linked_services = (RAM_PRINCIPAL,)
    create_seconds = 2.0  # est
    delete_seconds = 0.0
    kept_on_destroy = True
    taggable = False

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = _orgs.nodes_of(ctx, cls)
        organization = _orgs.describe_organization(ctx)
        if not nodes or organization is None or organization.get("MasterAccountId") != ctx.aws.account_id:
            return []
        services = {
            s["ServicePrincipal"]
            for s in _orgs.client(ctx, "poll")
            .list_aws_service_access_for_organization()
            .get("EnabledServicePrincipals", [])
        }
        if RAM_PRINCIPAL not in services:
            return []
        item = {"ServicePrincipal": RAM_PRINCIPAL, "Enabled": True}
        return [Live(key=nodes[0].key, id=organization["Id"], fields=cls.observe(item), raw=item)]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: whether RAM's service access is among the organization's enabled ones."""
        return {"enabled": bool(item["Enabled"])}

    def desired(self, refs: Refs) -> dict[str, object]:
        return {"enabled": True}

    def create(self, ctx: RunContext, want: dict[str, object]) -> Live:
        try:
            ctx.aws.client("ram").enable_sharing_with_aws_organization()
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc
        organization = _orgs.describe_organization(ctx) or {}
        return Live(key=self.key, id=str(organization.get("Id", "organization")), fields={"enabled": True})

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:  # kept_on_destroy: never called by destroy
        return None
