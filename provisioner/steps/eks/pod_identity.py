"""eks:pod-identity-association: binds a Kubernetes service account to an IAM role through
the EKS Pod Identity agent (how Karpenter's controller gets its AWS credentials; no IRSA
annotation, no OIDC trust policy to keep in sync).

CreatePodIdentityAssociation right after the role was created answers
InvalidParameterException ("Role provided in the request does not exist") until IAM has
propagated the role: retried as eventual consistency (latency-model.md p95 120 s). The create
carries a clientRequestToken from plan, key, cluster and role, so a retried create is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, is_not_found
from provisioner.aws.retry import IAM_PROPAGATION_SECONDS, eventually
from provisioner.engine import Live, Refs, RunContext, tags_changed
from provisioner.steps.common.listed import Listing
from provisioner.steps.eks.in_cluster import InCluster
from provisioner.steps.eks.updates import cluster_token, eks_call


@dataclass(kw_only=True)
class PodIdentityAssociation(InCluster):
    cluster: str
    namespace: str
    service_account: str
    role: str  # key of an iam:role node

    type = "eks:pod-identity-association"
    iam_actions = (
        "eks:ListPodIdentityAssociations",
        "eks:DescribePodIdentityAssociation",
        "eks:CreatePodIdentityAssociation",
        "eks:UpdatePodIdentityAssociation",
        "eks:TagResource",
        "eks:DeletePodIdentityAssociation",
        "iam:PassRole",
        "iam:GetRole",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"cluster", "namespace", "service_account"})
    listing = Listing(
        service="eks",
        list_operation="list_pod_identity_associations",
        list_key="associations",
        list_id="associationId",
        describe_operation="describe_pod_identity_association",
        describe_key="association",
        id_param="associationId",
        scope_param="clusterName",
        live_id="{clusterName}|{associationId}",
    )

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "cluster": item["clusterName"],
            "namespace": item["namespace"],
            "service_account": item["serviceAccount"],
            "role_arn": item["roleArn"],
        }

    @classmethod
    def outputs_of(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {"arn": item.get("associationArn")}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "cluster": refs.id(self.cluster),
            "namespace": self.namespace,
            "service_account": self.service_account,
            "role_arn": refs.get(self.role, "arn"),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        eks = ctx.aws.client("eks")

        def create() -> dict[str, Any]:
            return eks.create_pod_identity_association(
                clusterName=want["cluster"],
                namespace=self.namespace,
                serviceAccount=self.service_account,
                roleArn=want["role_arn"],
                tags=ctx.tags_for(self),
                clientRequestToken=cluster_token(
                    ctx, self.cluster, self.key, self.namespace, self.service_account, want["role_arn"]
                ),
            )["association"]

        try:
            association = eventually(
                ctx,
                create,
                codes={"InvalidParameterException"},
                key=self.key,
                what="role not visible to EKS yet",
                message_contains="does not exist",
                budget=IAM_PROPAGATION_SECONDS,
            )
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        return self.live_of(self.key, association, tags=ctx.tags_for(self))

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        cluster, association_id = have.id.split("|", 1)
        if "role_arn" in diff:
            eks_call(
                ctx,
                self.key,
                "update_pod_identity_association",
                clusterName=cluster,
                associationId=association_id,
                roleArn=want["role_arn"],
            )
            have.fields["role_arn"] = want["role_arn"]
        if tags_changed(diff) and have.outputs.get("arn"):
            eks_call(ctx, self.key, "tag_resource", resourceArn=have.outputs["arn"], tags=ctx.tags_for(self))
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        cluster, association_id = have.id.split("|", 1)
        try:
            ctx.aws.client("eks").delete_pod_identity_association(clusterName=cluster, associationId=association_id)
        except ClientError as exc:
            if not is_not_found(exc):
                raise as_provisioner_error(exc, key=have.key) from exc
