"""iam:service-linked-role: an account-wide role an AWS service needs, made when missing.

Karpenter launches spot capacity, which needs `AWSServiceRoleForEC2Spot` in the account.
Such roles belong to the account, not to a plan (other tools and plans rely on them), so
this kind only ever creates one: an existing role is simply there (never adopted, never
changed), and destroy leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import iam_role_details
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.engine import Live, Refs, Resource, RunContext


@dataclass(kw_only=True)
class ServiceLinkedRole(Resource):
    service: str  # e.g. spot.amazonaws.com
    role_name: str  # e.g. AWSServiceRoleForEC2Spot

    type = "iam:service-linked-role"
    iam_actions = ("iam:GetRole", "iam:GetAccountAuthorizationDetails", "iam:CreateServiceLinkedRole")
    # The services whose role this kind may be asked to make (Karpenter's spot capacity).
    linked_services = ("spot.amazonaws.com",)
    create_seconds = 1.0
    delete_seconds = 0.0
    taggable = False
    kept_on_destroy = True

    def __post_init__(self) -> None:
        if self.service not in self.linked_services:
            raise ValueError(f"{self.key}: {self.service} is not in ServiceLinkedRole.linked_services")

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # Found by name in the account's role details (read once per run for all role kinds):
        # these roles carry no plan tags, and nothing is owned, so nothing is ever an orphan.
        roles = iam_role_details(ctx)
        lives = []
        for node in ctx.nodes.values():
            if isinstance(node, cls):
                role = roles.get(node.role_name)
                if role is not None:
                    lives.append(
                        Live(
                            key=node.key,
                            id=role["RoleName"],
                            fields=cls.observe(role),
                            outputs={"arn": role.get("Arn")},
                        )
                    )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """Nothing is compared: the role exists or not (never changed, never adopted)."""
        return {}

    def exists(self, ctx: RunContext) -> dict[str, Any] | None:
        try:
            return ctx.aws.client("iam").get_role(RoleName=self.role_name)["Role"]
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            role = ctx.aws.client("iam").create_service_linked_role(AWSServiceName=self.service)["Role"]
        except ClientError as exc:
            # Made meanwhile by someone else: AWS says InvalidInput "... has been taken".
            if error_code(exc) not in ("InvalidInput", "EntityAlreadyExists"):
                raise as_provisioner_error(exc, key=self.key) from exc
            role = self.exists(ctx) or {"RoleName": self.role_name, "Arn": ""}
        return Live(key=self.key, id=role["RoleName"], outputs={"arn": role.get("Arn")})

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        """Never: the account's other users need it too."""
