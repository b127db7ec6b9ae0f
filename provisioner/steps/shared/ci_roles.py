"""iam:role for CI/CD: steps/iam's Role whose trust policy may name things only known at run
time (the GitHub OIDC provider's ARN, another account's id), living under its own IAM path.

Role (steps/iam/roles.py) is reused for everything but two points:

- Trust and inline policies may hold placeholders resolved from refs in `desired()`:
  `{"ref": key, "attr": name}` as Role has, and `{"fmt": "arn:{p}:iam::{a}:root",
  "args": {"p": ["@plan", "partition"], "a": ["organization/accounts", "development"]}}` for
  strings built from several refs. Role sends its trust policy as written, and a trust policy
  has to name the provider's or the other account's ARN.
- The path is `/provisioner-ci/<plan>/`, not Role's `/provisioner/<plan>/`: each kind finds its
  roles by path (from the account's role details, read once per run), and two kinds keeping the same path would each take the
  other's roles for orphans. The path is also what the two sides' policies match: the shared
  CI role may assume `role/provisioner-ci/*` in the environment accounts, and an environment
  deploy role trusts only roles under `role/provisioner-ci/` of the shared account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.aws.errors import ClientError, as_provisioner_error, error_code
from provisioner.aws.tags import to_list
from provisioner.engine import Live, OwnershipError, Pending, Refs, RunContext
from provisioner.steps.iam.roles import Role, boundary_argument, roles_under

CI_PATH_ROOT = "/provisioner-ci/"


def ci_path(plan: str) -> str:
    return f"{CI_PATH_ROOT}{plan}/"


def fill(document: Any, refs: Refs) -> Any:
    """Resolve placeholders (see module docstring); a pending ref leaves the value pending."""
    if isinstance(document, dict):
        if set(document) == {"ref", "attr"}:
            return refs.get(document["ref"], document["attr"])
        if set(document) == {"fmt", "args"}:
            values = {name: refs.get(*where) for name, where in document["args"].items()}
            pending = [v for v in values.values() if isinstance(v, Pending)]
            return pending[0] if pending else document["fmt"].format(**values)
        return {k: fill(v, refs) for k, v in document.items()}
    if isinstance(document, list):
        return [fill(v, refs) for v in document]
    return document


def fmt(template: str, **args: tuple[str, str]) -> dict[str, Any]:
    """A placeholder for a string built from refs: fmt("arn:{p}:iam::{a}:root", p=("@plan", "partition"), ...)."""
    return {"fmt": template, "args": {name: list(where) for name, where in args.items()}}


@dataclass(kw_only=True)
class CiRole(Role):
    type = "iam:role"
    variant = "ci"  # roles under the CI path; plan roles are steps/iam/roles.py's
    iam_actions = Role.iam_actions  # the same calls

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # The account's roles are read once per run for all role kinds (steps/iam/roles.py).
        return roles_under(ctx, ci_path(ctx.plan_name))

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "trust": fill(self.trust, refs),
            "managed_policies": sorted(self.managed_policies),
            "inline_policies": {name: fill(doc, refs) for name, doc in sorted(self.inline_policies.items())},
            "permissions_boundary": self.boundary_arn(refs),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        iam = ctx.aws.client("iam")
        name = want["name"]
        try:
            role = iam.create_role(
                RoleName=name,
                Path=ci_path(ctx.plan_name),
                AssumeRolePolicyDocument=json.dumps(want["trust"]),
                Tags=to_list(ctx.tags_for(self)),
                Description=f"provisioner {ctx.plan_name} {self.key}",
                **boundary_argument(want),
            )["Role"]
        except ClientError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                raise OwnershipError(
                    f"an IAM role named {name} already exists and is not this plan's (not under {ci_path(ctx.plan_name)} with its tags)",
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
