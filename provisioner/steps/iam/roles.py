"""iam:role: roles the steps need (flow-log delivery, EKS, nodes, Karpenter; CI's are CiRole).

IAM has no tag-filtered list, so every role of a plan lives under the path
`/provisioner/<plan>/`; discovery reads every role of the account with its tags and policies
in one GetAccountAuthorizationDetails per run (shared with the other role kinds) and keeps
those under that path that carry the plan's tags. Names are deterministic
(`<plan>-<name>`), so a role made by someone else with the same name is an ownership error,
never adopted.

Every role has the account's permissions boundary (steps/iam/boundary.py): it is set on
CreateRole, and a role found without it (made by an older version) gets it with
PutRolePermissionsBoundary. Each Role depends on the boundary node, so the boundary exists
first. AWS-managed policies come only from `AWS_MANAGED_POLICIES`: the tool's own policy may
attach those and no other (`iam:PolicyARN`), so a role naming another one is refused here,
when the graph is built, not by AccessDenied halfway through an apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from provisioner.aws.discovery import describe_all, iam_role_details
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.tags import from_list, owned_key, to_list
from provisioner.constants import iam_path
from provisioner.engine import Live, OwnershipError, Pending, Refs, Resource, RunContext, tags_changed
from provisioner.steps.iam.boundary import BOUNDARY

# AWS managed policies, in the session's partition: `f"{AWS_MANAGED_POLICY}AmazonEKSClusterPolicy"`
# becomes arn:<partition>:iam::aws:policy/AmazonEKSClusterPolicy in `desired`.
AWS_MANAGED_POLICY = "arn:{partition}:iam::aws:policy/"


def managed_policy_arns(policies: tuple[Any, ...], refs: Refs) -> list[Any]:
    """The role's managed policy ARNs: placeholders resolved (`_resolve`), `{partition}` filled in."""
    resolved = _resolve(list(policies), refs)
    if any(isinstance(p, str) and "{partition}" in p for p in resolved):
        partition = str(refs.get("@plan", "partition"))
        resolved = [p.replace("{partition}", partition) if isinstance(p, str) else p for p in resolved]
    return sorted(resolved, key=str)


# The AWS-managed policies the tool's roles may have, by name (the ARN is
# arn:<partition>:iam::aws:policy/<name>). `iam-policy` allows AttachRolePolicy and
# DetachRolePolicy for exactly these.
AWS_MANAGED_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)


def managed_policy_name(arn: Any) -> str | None:
    """`AmazonEKSClusterPolicy` for `arn:<any partition>:iam::aws:policy/AmazonEKSClusterPolicy`
    (also as a `{"fmt": "arn:{p}:iam::aws:policy/...", ...}` placeholder whose partition is
    filled in at run time); None for anything that is not an AWS-managed policy ARN."""
    if isinstance(arn, dict) and "fmt" in arn:
        arn = arn["fmt"]
    parts = str(arn).split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or parts[2] != "iam"
        or parts[4] != "aws"
        or not parts[5].startswith("policy/")
    ):
        return None
    return parts[5].rsplit("/", 1)[-1]


def _document(value: Any) -> Any:
    """IAM returns policy documents URL-encoded in some SDK paths; normalise to a dict."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


@dataclass(kw_only=True)
class Role(Resource):
    name: str  # the full role name, from constants.resource_name(plan, ...)
    trust: dict[str, Any]
    # managed policy ARNs; like inline policies they may hold placeholders resolved in desired()
    managed_policies: tuple[Any, ...] = ()
    # inline policy name -> document; values may hold refs resolved in desired()
    inline_policies: dict[str, Any] = field(default_factory=dict)
    # node key of the account's iam:policy permissions boundary (steps/iam/boundary.py)
    permissions_boundary: str | None = BOUNDARY

    type = "iam:role"
    iam_actions = (
        "iam:ListRoles",
        "iam:GetAccountAuthorizationDetails",
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:CreateRole",
        "iam:PutRolePermissionsBoundary",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListInstanceProfilesForRole",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteRole",
    )
    create_seconds = 0.5
    delete_seconds = 0.5
    replace_on = frozenset({"name"})

    def __post_init__(self) -> None:
        for arn in self.managed_policies:
            if managed_policy_name(arn) not in AWS_MANAGED_POLICIES:
                raise ValueError(
                    f"{self.key}: {arn} is not one of the AWS-managed policies the tool may attach "
                    f"(steps/iam/roles.py AWS_MANAGED_POLICIES)"
                )
        if self.permissions_boundary and self.permissions_boundary not in self.depends_on:
            self.depends_on = (*self.depends_on, self.permissions_boundary)

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        return roles_under(ctx, iam_path(ctx.plan_name))

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a role as GetAccountAuthorizationDetails details it (trust, attached and
        inline policies, boundary)."""
        return {
            "name": item["RoleName"],
            "trust": _document(item["AssumeRolePolicyDocument"]),
            "managed_policies": sorted(p["PolicyArn"] for p in item.get("AttachedManagedPolicies", [])),
            "inline_policies": {
                p["PolicyName"]: _document(p["PolicyDocument"]) for p in item.get("RolePolicyList", [])
            },
            "permissions_boundary": (item.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
        }

    def boundary_arn(self, refs: Refs) -> Any:
        return refs.get(self.permissions_boundary, "arn") if self.permissions_boundary else None

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "trust": _resolve(self.trust, refs),
            "managed_policies": managed_policy_arns(self.managed_policies, refs),
            "inline_policies": {name: _resolve(doc, refs) for name, doc in sorted(self.inline_policies.items())},
            "permissions_boundary": self.boundary_arn(refs),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        name = want["name"]
        try:
            role = iam.create_role(
                RoleName=name,
                Path=iam_path(ctx.plan_name),
                AssumeRolePolicyDocument=json.dumps(want["trust"]),
                Tags=to_list(ctx.tags_for(self)),
                Description=f"provisioner {ctx.plan_name} {self.key}",
                **boundary_argument(want),
            )["Role"]
        except ClientError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                raise OwnershipError(
                    f"an IAM role named {name} already exists and is not this plan's (not under {iam_path(ctx.plan_name)} with its tags)",
                    key=self.key,
                    code="EntityAlreadyExists",
                    hint="rename or delete that role; provisioner never adopts resources it did not create",
                ) from exc
            raise as_provisioner_error(exc, key=self.key) from exc
        live = Live(
            key=self.key,
            id=name,
            tags=ctx.tags_for(self),
            raw=role,
            fields={
                "name": name,
                "trust": want["trust"],
                "managed_policies": [],
                "inline_policies": {},
                "permissions_boundary": want.get("permissions_boundary"),
            },
            outputs={"arn": role["Arn"], "name": name},
        )
        return self.update(ctx, want, live, {"managed_policies": {}, "inline_policies": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        name = have.id
        try:
            if "permissions_boundary" in diff and want.get("permissions_boundary"):
                iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=want["permissions_boundary"])
            if "trust" in diff:
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(want["trust"]))
            if "managed_policies" in diff:
                current = set(have.fields.get("managed_policies") or [])
                for arn in sorted(set(want["managed_policies"]) - current):
                    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
                for arn in sorted(current - set(want["managed_policies"])):
                    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            if "inline_policies" in diff:
                current_inline = have.fields.get("inline_policies") or {}
                for policy_name, document in want["inline_policies"].items():
                    if current_inline.get(policy_name) != document:
                        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
                for policy_name in set(current_inline) - set(want["inline_policies"]):
                    iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
            if tags_changed(diff):
                iam.tag_role(RoleName=name, Tags=to_list(ctx.tags_for(self)))
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc
        have.fields.update(
            {k: want[k] for k in ("trust", "managed_policies", "inline_policies", "permissions_boundary") if k in want}
        )
        return have

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        try:
            ctx.aws.client("iam").untag_role(RoleName=have.id, TagKeys=keys)
        except ClientError as exc:
            raise as_provisioner_error(exc, key=self.key) from exc

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        iam = ctx.aws.client("iam")
        name = have.id
        try:
            for profile in describe_all(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name):
                iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
            for policy in describe_all(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
            for policy_name in describe_all(iam, "list_role_policies", "PolicyNames", RoleName=name):
                iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
            iam.delete_role(RoleName=name)
        except ClientError as exc:
            if is_not_found(exc):
                return
            raise as_provisioner_error(exc, key=have.key) from exc


def roles_under(ctx: RunContext, path: str) -> list[Live]:
    """The plan's roles under an IAM path, from the account's role details read once per run
    (aws.discovery.iam_role_details: one call for all roles instead of about 4 per role)."""
    lives = []
    for name, role in sorted(iam_role_details(ctx).items()):
        if not role.get("Path", "").startswith(path):  # as ListRoles(PathPrefix=path) would
            continue
        tags = from_list(role.get("Tags"))
        key = owned_key(tags, ctx.plan_name)
        if key is None:
            continue
        lives.append(
            Live(
                key=key,
                id=name,
                tags=tags,
                raw=role,
                fields=Role.observe(role),
                outputs={"arn": role["Arn"], "name": name},
            )
        )
    return lives


def boundary_argument(want: dict[str, Any]) -> dict[str, Any]:
    """CreateRole's PermissionsBoundary, when the role has one."""
    return {"PermissionsBoundary": want["permissions_boundary"]} if want.get("permissions_boundary") else {}


def _resolve(document: Any, refs: Refs) -> Any:
    """Replace placeholders in a policy document: {"ref": key, "attr": name} (optionally with a
    "suffix") by a ref's value, {"fmt": "arn:{partition}:...", "args": {"partition": ["@plan",
    "partition"]}} by the string built from refs, {"concat": [part, ...]} by the parts joined
    (each pending while one of its refs is)."""
    if isinstance(document, dict):
        if set(document) == {"fmt", "args"}:
            values = {name: refs.get(*where) for name, where in document["args"].items()}
            pending = [v for v in values.values() if isinstance(v, Pending)]
            return pending[0] if pending else document["fmt"].format(**values)
        if set(document) == {"concat"}:
            parts = [_resolve(part, refs) for part in document["concat"]]
            pending = [p for p in parts if not isinstance(p, str)]
            return pending[0] if pending else "".join(parts)
        if set(document) == {"ref", "attr"}:
            return refs.get(document["ref"], document["attr"])
        if set(document) == {"ref", "attr", "suffix"}:
            value = refs.get(document["ref"], document["attr"])
            return value if not isinstance(value, str) else value + document["suffix"]
        return {k: _resolve(v, refs) for k, v in document.items()}
    if isinstance(document, list):
        return [_resolve(v, refs) for v in document]
    return document
