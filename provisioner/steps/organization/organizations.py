"""organizations:organization: the organization itself, with all features, the policy types
its root enables and the services it trusts.

- An account has at most one organization, so the organization is found by
  DescribeOrganization, not by tags; it carries no tags itself, so the ownership tags go on its
  root. An organization that exists without them (made by hand) is taken over: tagging the
  root is the only change. Run from a member account, discovery stops with an ownership
  error rather than plan anything in someone else's organization.
- The root's policy types (SERVICE_CONTROL_POLICY) and the trusted-access service principals
  (cloudtrail.amazonaws.com for the organization trail) are only ever added; what others
  enabled is left alone and not compared.
- Never deleted: deleting an organization needs every member account gone first, and this
  tool never closes accounts. Destroy says so and leaves it.
- A CONSOLIDATED_BILLING organization is not converted behind the user's back: moving to all
  features needs every invited member to approve a handshake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code
from provisioner.engine import Live, OwnershipError, PermanentError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.organization import _orgs


@dataclass(kw_only=True)
class Organization(Resource):
    policy_types: tuple[str, ...] = ("SERVICE_CONTROL_POLICY",)
    service_principals: tuple[str, ...] = ()

    type = "organizations:organization"
    iam_actions = (
        "organizations:DescribeOrganization",
        "organizations:ListRoots",
        "organizations:CreateOrganization",
        "organizations:EnableAWSServiceAccess",
        "organizations:ListAWSServiceAccessForOrganization",
        "organizations:EnablePolicyType",
        "organizations:ListTagsForResource",
        "organizations:TagResource",
        "iam:CreateServiceLinkedRole",
    )
    # CreateOrganization makes Organizations' service-linked role.
    linked_services = ("organizations.amazonaws.com",)
    create_seconds = 2.0
    delete_seconds = 0.0

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        nodes = _orgs.nodes_of(ctx, cls)
        organization = _orgs.describe_organization(ctx)
        if organization is None or not nodes:
            return []
        node = nodes[0]
        caller = ctx.aws.account_id
        if organization["MasterAccountId"] != caller:
            raise OwnershipError(
                f"account {caller} is a member of organization {organization['Id']}, whose management account is "
                f"{organization['MasterAccountId']}",
                key=node.key,
                code="NotManagementAccount",
                hint="run the organization plan with credentials of the organization's management account",
            )
        root = _orgs.root(ctx) or {}
        enabled_types = {t["Type"] for t in root.get("PolicyTypes", []) if t.get("Status") == "ENABLED"}
        services = {
            s["ServicePrincipal"]
            for s in _orgs.client(ctx, "poll")
            .list_aws_service_access_for_organization()
            .get("EnabledServicePrincipals", [])
        }
        return [
            Live(
                key=node.key,
                id=organization["Id"],
                tags=_orgs.tags_of(ctx, root["Id"]) if root else {},
                raw=organization,
                # Only what the plan asks for is compared: what others enabled stays theirs.
                fields=cls.observe(
                    {
                        **organization,
                        "EnabledPolicyTypes": sorted(t for t in node.policy_types if t in enabled_types),
                        "EnabledServicePrincipals": sorted(s for s in node.service_principals if s in services),
                    }
                ),
                outputs=_outputs(organization, root),
            )
        ]

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: DescribeOrganization's organization with the policy types (of the root) and
        service principals that are enabled, among those the plan names."""
        return {
            "feature_set": item.get("FeatureSet"),
            "policy_types": sorted(item["EnabledPolicyTypes"]),
            "service_principals": sorted(item["EnabledServicePrincipals"]),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "feature_set": "ALL",
            "policy_types": sorted(self.policy_types),
            "service_principals": sorted(self.service_principals),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            organization = _orgs.client(ctx).create_organization(FeatureSet="ALL")["Organization"]
        except ClientError as exc:
            if error_code(exc) != "AlreadyInOrganizationException":
                raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc
            # Made meanwhile (a retried run): read it; a foreign one is refused by discover's check.
            ctx.memo.pop(("organizations", "organization"), None)
            found = type(self).discover(ctx)
            if not found:
                raise as_provisioner_error(exc, key=self.key) from exc
            return self.update(ctx, want, found[0], _diff(want, found[0]))
        ctx.memo.pop(("organizations", "organization"), None)
        ctx.memo.pop(("organizations", "roots"), None)
        root = _orgs.root(ctx) or {}
        live = Live(
            key=self.key,
            id=organization["Id"],
            tags={},
            raw=organization,
            fields={"feature_set": "ALL", "policy_types": [], "service_principals": []},
            outputs=_outputs(organization, root),
        )
        ctx.progress(self.key, f"created organization {organization['Id']} (all features)")
        return self.update(ctx, want, live, {**_diff(want, live), "tags.": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "feature_set" in diff:
            raise PermanentError(
                f"organization {have.id} has feature set {have.fields.get('feature_set')}, the plan needs ALL "
                "(service control policies and delegated administrators need it)",
                key=self.key,
                code="OrganizationNotInAllFeaturesMode",
                hint="start EnableAllFeatures from the management account (every invited member must approve its handshake), then apply again",
            )
        root_id = have.outputs["root_id"]
        for policy_type in sorted(set(want["policy_types"]) - set(have.fields.get("policy_types") or [])):
            try:
                _orgs.client(ctx).enable_policy_type(RootId=root_id, PolicyType=policy_type)
            except ClientError as exc:
                if error_code(exc) != "PolicyTypeAlreadyEnabledException":
                    raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc
        for principal in sorted(set(want["service_principals"]) - set(have.fields.get("service_principals") or [])):
            _orgs.call(ctx, self.key, "enable_aws_service_access", ServicePrincipal=principal)
        if tags_changed(diff):
            _orgs.tag(ctx, self.key, root_id, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        have.fields.update({"policy_types": want["policy_types"], "service_principals": want["service_principals"]})
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        _orgs.tag(ctx, self.key, have.outputs["root_id"], tags)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        _orgs.kept(ctx, have, "an organization is never deleted by provisioner (its member accounts are never closed)")


def _outputs(organization: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": organization.get("Arn"),
        "root_id": root.get("Id"),
        "management_account_id": organization.get("MasterAccountId"),
    }


def _diff(want: dict[str, Any], have: Live) -> dict[str, Any]:
    return {k: {} for k, v in want.items() if have.fields.get(k) != v}
