"""rds:db-subnet-group: the private subnets the database may live in (one per AZ).

RDS needs subnets in at least two AZs even for a single-AZ instance, so a standby or a
restore can be placed. Subnets can be changed in place (ModifyDBSubnetGroup); the name can
not. Deleting a group an instance still uses answers InvalidDBSubnetGroupStateFault, which is
temporary while that instance is being deleted.

Discovery takes the group from the plan's DB instance while it has one: DescribeDBInstances
(which the instance's discovery reads anyway) returns each instance's subnet group in full
(name, description, VPC and subnets, the same `DBSubnetGroup` DescribeDBSubnetGroups returns),
so a no-op plan makes no DescribeDBSubnetGroups (issue #17). Its tags come from the run's bulk
tag read, which also names every subnet group tagged for this plan: when one of those is not
the instance's (left by hand, or the instance moved), or there is no instance yet, or the
instance's group is not the plan's, the groups are listed as before, so none is missed by
plan or destroy.
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstance.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import to_list
from provisioner.constants import TAG_PLAN
from provisioner.engine import Live, OwnershipError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.rds._rds import (
    delete_group,
    group_arn,
    owned_groups,
    rds_call,
    rds_error,
    tagged_group_names,
    tags_of_group,
)
from provisioner.steps.rds.instances import DbInstance


@dataclass(kw_only=True)
class DbSubnetGroup(Resource):
    name: str
    description: str
    subnets: tuple[str, ...]  # subnet node keys

    type = "rds:db-subnet-group"
    iam_actions = (
        "rds:DescribeDBInstances",
        "rds:DescribeDBSubnetGroups",
        "rds:ListTagsForResource",
        "tag:GetResources",
        "rds:CreateDBSubnetGroup",
        "rds:ModifyDBSubnetGroup",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        "rds:DeleteDBSubnetGroup",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    replace_on = frozenset({"name"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        rds = ctx.aws.client("rds")
        used = cls._from_instances(ctx, rds)
        if used is not None:
            return used
        items = describe_all(rds, "describe_db_subnet_groups", "DBSubnetGroups")
        return [
            cls._live(item, tags, key)
            for item, tags, key in owned_groups(ctx, rds, items, "DBSubnetGroupName", "DBSubnetGroupArn")
        ]

    @classmethod
    def _from_instances(cls, ctx: RunContext, rds: Any) -> list[Live] | None:
        """The plan's subnet groups as its DB instances describe them, or None when that may
        not be all of them (then the caller lists the groups)."""
        groups: dict[str, dict[str, Any]] = {}
        for instance in ctx.live(DbInstance):
            group = (instance.raw or {}).get("DBSubnetGroup")
            if not group or not group.get("DBSubnetGroupName"):
                return None
            name = group["DBSubnetGroupName"]
            groups[name] = {
                **group,
                "DBSubnetGroupArn": group.get("DBSubnetGroupArn") or group_arn(ctx, "subgrp", name),
            }
        if not groups:
            return None
        lives = [
            cls._live(item, tags, key)
            for item, tags, key in owned_groups(
                ctx, rds, list(groups.values()), "DBSubnetGroupName", "DBSubnetGroupArn"
            )
        ]
        if len(lives) != len(groups) or not tagged_group_names(ctx, "subgrp") <= set(groups):
            return None
        return lives

    @classmethod
    def _live(cls, item: dict[str, Any], tags: dict[str, str], key: str) -> Live:
        name = item["DBSubnetGroupName"]
        return Live(
            key=key,
            id=name,
            tags=tags,
            raw=item,
            fields=cls.observe(item),
            outputs={"name": name, "arn": item.get("DBSubnetGroupArn"), "vpc_id": item.get("VpcId")},
        )

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a subnet group as DescribeDBSubnetGroups returns it."""
        return {
            "name": item["DBSubnetGroupName"],
            "description": item.get("DBSubnetGroupDescription", ""),
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in item.get("Subnets", [])),
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "subnet_ids": sorted((refs.id(s) for s in self.subnets), key=str),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        rds = ctx.aws.client("rds")
        try:
            item = rds.create_db_subnet_group(
                DBSubnetGroupName=self.name,
                DBSubnetGroupDescription=self.description,
                SubnetIds=want["subnet_ids"],
                Tags=to_list(ctx.tags_for(self)),
            )["DBSubnetGroup"]
        except ClientError as exc:
            if error_code(exc) != "DBSubnetGroupAlreadyExists":
                raise rds_error(exc, self.key) from exc
            # A create that succeeded before a crash, or someone else's group with our name.
            item = rds.describe_db_subnet_groups(DBSubnetGroupName=self.name)["DBSubnetGroups"][0]
            tags = tags_of_group(rds, item["DBSubnetGroupArn"])
            if tags.get(TAG_PLAN) != ctx.plan_name:
                raise OwnershipError(
                    f"DB subnet group {self.name} exists and is not this plan's",
                    key=self.key,
                    hint="rename or delete that group; provisioner never adopts what it does not own",
                ) from exc
            live = self._live(item, tags, self.key)
            return self.update(ctx, want, live, {"subnet_ids": {}, "description": {}, "tags.": {}})
        return self._live(item, ctx.tags_for(self), self.key)

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "subnet_ids" in diff or "description" in diff:
            item = rds_call(
                ctx,
                self.key,
                "modify_db_subnet_group",
                DBSubnetGroupName=have.id,
                DBSubnetGroupDescription=self.description,
                SubnetIds=want["subnet_ids"],
            )["DBSubnetGroup"]
            have.fields.update(subnet_ids=want["subnet_ids"], description=self.description)
            have.raw = item
        if tags_changed(diff):
            self.set_tags(ctx, have, ctx.tags_for(self))
            have.tags.update(ctx.tags_for(self))
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        rds_call(ctx, self.key, "add_tags_to_resource", ResourceName=have.outputs["arn"], Tags=to_list(tags))

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        rds_call(ctx, self.key, "remove_tags_from_resource", ResourceName=have.outputs["arn"], TagKeys=keys)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        delete_group(ctx, have.key, "delete_db_subnet_group", DBSubnetGroupName=have.id)
