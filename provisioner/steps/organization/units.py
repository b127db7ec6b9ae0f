"""organizations:ou: the plan's organizational units, nested, identified by their path.

- AWS keeps OU names unique among siblings (DuplicateOrganizationalUnitException), so a path
  (`Workloads/NonProd`) names at most one OU. Discovery walks the tree from the root (one
  ListOrganizationalUnitsForParent per OU, there is no flat list) and reads each OU's tags.
  An OU carrying this plan's tags is the node its `provisioner:key` names; an untagged OU at
  a node's path is that node's OU, taken over by tagging it (it could not be created beside
  it anyway); an OU tagged by another plan is never touched.
- AWS cannot move an OU to another parent, so a changed parent is a replacement.
- Destroy deletes an OU only when it is empty. Accounts are never closed, so an OU that still
  holds accounts (or OUs someone else added) is kept, and destroy says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, as_provisioner_error, error_code, is_not_found
from provisioner.aws.tags import key_of, to_list
from provisioner.constants import TAG_PLAN
from provisioner.engine import Live, OwnershipError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.organization import _orgs


@dataclass(kw_only=True)
class OrganizationalUnit(Resource):
    path: str  # "Workloads/NonProd"
    parent: str  # node key of the parent: the organization (its root) or another OU
    parent_attr: str = "id"  # "root_id" when the parent is the organization

    type = "organizations:ou"
    iam_actions = (
        "organizations:ListRoots",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListTagsForResource",
        "organizations:CreateOrganizationalUnit",
        "organizations:UpdateOrganizationalUnit",
        "organizations:TagResource",
        "organizations:DeleteOrganizationalUnit",
    )
    create_seconds = 1.0
    delete_seconds = 1.0
    replace_on = frozenset({"parent_id"})

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        root = _orgs.root(ctx)
        if root is None:
            return []
        by_path = {node.path: node for node in _orgs.nodes_of(ctx, cls)}
        poll = _orgs.client(ctx, "poll")
        lives: list[Live] = []
        stack: list[tuple[str, str]] = [(root["Id"], "")]
        while stack:
            parent_id, prefix = stack.pop()
            for unit in describe_all(
                poll, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
            ):
                path = f"{prefix}{unit['Name']}"
                stack.append((unit["Id"], f"{path}/"))
                tags = _orgs.tags_of(ctx, unit["Id"])
                key = key_of(tags)
                if tags.get(TAG_PLAN) == ctx.plan_name and key:
                    pass  # ours, under the key it was made for
                elif TAG_PLAN not in tags and path in by_path:
                    key = by_path[path].key  # an untagged OU at our path: ours to tag
                else:
                    continue
                lives.append(
                    Live(
                        key=key,
                        id=unit["Id"],
                        tags=tags,
                        raw=unit,
                        fields=cls.observe({**unit, "ParentId": parent_id}),
                        outputs={"arn": unit.get("Arn"), "path": path},
                    )
                )
        return lives

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a listed OU with the `ParentId` it was listed under."""
        return {"name": item["Name"], "parent_id": item["ParentId"]}

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {"name": self.name, "parent_id": refs.get(self.parent, self.parent_attr)}

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        try:
            unit = _orgs.client(ctx).create_organizational_unit(
                ParentId=want["parent_id"], Name=self.name, Tags=to_list(ctx.tags_for(self))
            )["OrganizationalUnit"]
        except ClientError as exc:
            if error_code(exc) == "DuplicateOrganizationalUnitException":
                raise OwnershipError(
                    f"an OU named {self.name!r} already exists under {want['parent_id']} and belongs to another plan",
                    key=self.key,
                    code="DuplicateOrganizationalUnitException",
                    hint="remove its provisioner tags (or the OU) if it should be this plan's",
                ) from exc
            raise as_provisioner_error(exc, key=self.key, hint=_orgs.hint_for(exc)) from exc
        return Live(
            key=self.key,
            id=unit["Id"],
            tags=ctx.tags_for(self),
            raw=unit,
            fields=dict(want),
            outputs={"arn": unit.get("Arn"), "path": self.path},
        )

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "name" in diff:  # a sibling renamed by hand to our path's last part cannot happen; a case change can
            _orgs.call(ctx, self.key, "update_organizational_unit", OrganizationalUnitId=have.id, Name=self.name)
            have.fields["name"] = self.name
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        _orgs.tag(ctx, self.key, have.id, tags)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        try:
            _orgs.client(ctx).delete_organizational_unit(OrganizationalUnitId=have.id)
        except ClientError as exc:
            if error_code(exc) == "OrganizationalUnitNotEmptyException":
                _orgs.kept(
                    ctx,
                    have,
                    "the OU still holds accounts or OUs (accounts are never closed or moved out by provisioner)",
                )
                return
            if is_not_found(exc) or error_code(exc) == "OrganizationalUnitNotFoundException":
                return
            raise as_provisioner_error(exc, key=have.key) from exc
