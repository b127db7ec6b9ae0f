"""iam:oidc-provider for GitHub Actions: `token.actions.githubusercontent.com`, audience
`sts.amazonaws.com` (https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services).

Modelled on the EKS step's provider (steps/eks/oidc.py): IAM lists providers without tags, so
discovery reads each and keeps the plan's GitHub one. IAM allows one provider per URL and
account; one made by hand is an ownership error with what to do (tag it to let this plan
manage it), never silently adopted, because other roles may trust it. IAM no longer checks
GitHub's certificate thumbprints, but older SDK paths still require the list, so GitHub's
published ones are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.constants import TAG_KEY, TAG_PLAN
from provisioner.engine import Live, OwnershipError, Refs, Resource, RunContext, tags_changed

GITHUB_HOST = "token.actions.githubusercontent.com"
GITHUB_URL = f"https://{GITHUB_HOST}"
AUDIENCE = "sts.amazonaws.com"
GITHUB_THUMBPRINTS = ("6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd")


@dataclass(kw_only=True)
class GithubOidcProvider(Resource):
    type = "iam:oidc-provider"
    variant = "github"  # the CI's provider; clusters' are steps/eks/oidc.py's
    iam_actions = (
        "iam:ListOpenIDConnectProviders",
        "iam:GetOpenIDConnectProvider",
        "iam:CreateOpenIDConnectProvider",
        "iam:AddClientIDToOpenIDConnectProvider",
        "iam:RemoveClientIDFromOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
        "iam:DeleteOpenIDConnectProvider",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"url"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        iam = ctx.aws.client("iam", purpose="poll")
        lives = []
        for entry in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            if not arn.endswith(f"/{GITHUB_HOST}"):
                continue  # another kind's provider (an EKS cluster's issuer)
            provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            tags = from_list(provider.get("Tags"))
            key = owned_key(tags, ctx.plan_name)
            if key is None:
                continue
            lives.append(
                Live(
                    key=key,
                    id=arn,
                    tags=tags,
                    raw=provider,
                    fields=cls.observe(provider),
                    outputs={"arn": arn},
                )
            )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: GetOpenIDConnectProvider's answer for the provider whose ARN ends in GitHub's host."""
        return {"url": GITHUB_URL, "client_ids": sorted(item.get("ClientIDList", []))}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"url": GITHUB_URL, "client_ids": [AUDIENCE]}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            arn = ctx.aws.client("iam").create_open_id_connect_provider(
                Url=GITHUB_URL,
                ClientIDList=[AUDIENCE],
                ThumbprintList=list(GITHUB_THUMBPRINTS),
                Tags=to_list(ctx.tags_for(self)),
            )["OpenIDConnectProviderArn"]
        except ClientError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                raise OwnershipError(
                    f"this account already has an OIDC provider for {GITHUB_HOST} that is not this plan's",
                    key=self.key,
                    code="EntityAlreadyExists",
                    hint=f"tag it {TAG_PLAN}={ctx.plan_name} and {TAG_KEY}={self.key} to let this plan manage it "
                    "(roles trusting it keep working), or delete it",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        return Live(key=self.key, id=arn, tags=ctx.tags_for(self), fields=dict(want), outputs={"arn": arn})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        try:
            if "client_ids" in diff:
                for client_id in set(want["client_ids"]) - set(have.fields["client_ids"]):
                    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=have.id, ClientID=client_id)
                for client_id in set(have.fields["client_ids"]) - set(want["client_ids"]):
                    iam.remove_client_id_from_open_id_connect_provider(
                        OpenIDConnectProviderArn=have.id, ClientID=client_id
                    )
            if tags_changed(diff):
                self.set_tags(ctx, have, ctx.tags_for(self))
                have.tags.update(ctx.tags_for(self))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(want)
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.client("iam").tag_open_id_connect_provider(OpenIDConnectProviderArn=have.id, Tags=to_list(tags))

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=have.id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc
