"""iam:oidc-provider: the cluster's OIDC issuer as an IAM identity provider, for workloads
that still use IRSA (Karpenter itself uses EKS Pod Identity).

IAM lists OIDC providers without tags, so discovery reads each (GetOpenIDConnectProvider
returns its tags) and keeps the plan's. IAM trusts the issuer's certificate through its own
root CA store for EKS; the thumbprint is still sent because older partitions require one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.engine import Live, Refs, Resource, RunContext, tags_changed

# SHA-1 of the root CA behind oidc.eks.*.amazonaws.com (Amazon Root CA 1's cross-sign).
EKS_OIDC_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


@dataclass(kw_only=True)
class OidcProvider(Resource):
    cluster: str

    type = "iam:oidc-provider"
    iam_actions = (
        "eks:DescribeCluster",
        "iam:ListOpenIDConnectProviders",
        "iam:GetOpenIDConnectProvider",
        "iam:CreateOpenIDConnectProvider",
        "iam:AddClientIDToOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
        "iam:DeleteOpenIDConnectProvider",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"url"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        iam = ctx.aws.client("iam")
        lives = []
        for entry in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            if "token.actions.githubusercontent.com" in arn:
                continue  # the CI's provider (steps/shared), never a cluster's
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
        """`item`: GetOpenIDConnectProvider's answer (its `Url` without the scheme)."""
        url = item.get("Url", "")
        return {
            "url": url if url.startswith("https://") else f"https://{url}",
            "client_ids": sorted(item.get("ClientIDList", [])),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"url": refs.get(self.cluster, "oidc_issuer"), "client_ids": ["sts.amazonaws.com"]}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            arn = ctx.aws.client("iam").create_open_id_connect_provider(
                Url=want["url"],
                ClientIDList=want["client_ids"],
                ThumbprintList=[EKS_OIDC_THUMBPRINT],
                Tags=to_list(ctx.tags_for(self)),
            )["OpenIDConnectProviderArn"]
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        return Live(key=self.key, id=arn, tags=ctx.tags_for(self), fields=dict(want), outputs={"arn": arn})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        if "client_ids" in diff:
            for client_id in set(want["client_ids"]) - set(have.fields["client_ids"]):
                iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=have.id, ClientID=client_id)
        if tags_changed(diff):
            iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=have.id, Tags=to_list(ctx.tags_for(self)))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            ctx.aws.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=have.id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc
