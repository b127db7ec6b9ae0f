"""iam:oidc-provider: the cluster's OIDC issuer as an IAM identity provider, for workloads
that still use IRSA (Karpenter itself uses EKS Pod Identity).

IAM trusts the issuer's certificate through its own root CA store for EKS; the thumbprint is
still sent because older partitions require one.

IAM lists OIDC providers without tags, so discovery reads each (GetOpenIDConnectProvider
returns its tags) and keeps the plan's. A provider's ARN is its issuer URL under the account
(`arn:<partition>:iam::<account>:oidc-provider/<issuer without https://>`, IAM's identifier
format), so while the plan's cluster exists its provider is read by that ARN, one call instead
of a listing and a read (issue #17). The listing is still made when that read does not find
the plan's provider (no cluster yet, a replaced cluster's new issuer, a provider made by hand),
so a provider of an earlier issuer is still found for replacement and destroy: a replacement
deletes the old provider before it makes the new one, so while the current issuer's provider
is the plan's, no other one of the plan's is left.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.engine import Live, Refs, Resource, RunContext, tags_changed
from provisioner.steps.eks.clusters import Cluster

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
        current = [live for arn in cls._issuer_arns(ctx) if (live := cls._read(ctx, iam, arn)) is not None]
        if current:
            return current
        lives = []
        for entry in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = entry["Arn"]
            if "token.actions.githubusercontent.com" in arn:
                continue  # the CI's provider (steps/shared), never a cluster's
            live = cls._read(ctx, iam, arn)
            if live is not None:
                lives.append(live)
        return lives

    @classmethod
    def _issuer_arns(cls, ctx: RunContext) -> list[str]:
        """The provider ARNs of the plan's live clusters' issuers (no call: the cluster's
        discovery read the issuer, and the session knows its account)."""
        issuers = [live.outputs.get("oidc_issuer") for live in ctx.live(Cluster)]
        prefix = f"arn:{ctx.aws.partition}:iam::{ctx.aws.account_id}:oidc-provider/"
        return [prefix + issuer.removeprefix("https://") for issuer in issuers if issuer]

    @classmethod
    def _read(cls, ctx: RunContext, iam: Any, arn: str) -> Live | None:
        """The provider at `arn` if it is this plan's (None if it does not exist or is not)."""
        try:
            provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        tags = from_list(provider.get("Tags"))
        key = owned_key(tags, ctx.plan_name)
        if key is None:
            return None
        return Live(
            key=key,
            id=arn,
            tags=tags,
            raw=provider,
            fields=cls.observe(provider),
            outputs={"arn": arn},
        )

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
