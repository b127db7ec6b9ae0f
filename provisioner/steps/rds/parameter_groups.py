"""rds:db-parameter-group: the instance's PostgreSQL settings, for the engine's family.

- The family follows the plan's major version (`postgres17`); a group's family can not
  change, so a new major version needs a new group (see DbInstance: major upgrades are not
  made in place by apply).
- Drift is read with one DescribeDBParameters(Source=user) per group: only what was set in
  the group, not the engine's hundreds of defaults. Parameters the plan sets are compared and
  corrected; parameters someone else set in the group are left alone (`Includes`).
- Every parameter set here is dynamic, so it applies without a reboot (ApplyMethod
  `immediate`); a static one (listed in STATIC) would be set `pending-reboot`.
- ModifyDBParameterGroup takes at most 20 parameters per call.
- The description is set at creation and never compared, as a security group's: RDS cannot
  change it, and replacing the group the instance uses for a wording change would fail (RDS
  refuses to delete a group in use) or take the database's settings away.

Discovery takes the group's name and family from the plan's DB instance while it uses the
group: DescribeDBInstances (read anyway) names each instance's parameter groups, and RDS
refuses an instance a group of another family than its engine version (`postgres17` for
17.x), so the family is the instance's. A no-op plan then makes no DescribeDBParameterGroups
(issue #17), only the DescribeDBParameters that shows drift. Its tags come from the bulk tag
read, which also names every parameter group tagged for this plan: when one of those, or one
of the plan's groups, is not an instance's, or there is no instance yet, the groups are listed
as before, so none is missed by plan or destroy (as for the subnet group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code
from provisioner.aws.tags import to_list
from provisioner.constants import TAG_PLAN
from provisioner.engine import Live, OwnershipError, Refs, Resource, RunContext, tags_changed
from provisioner.steps.rds._rds import (
    Includes,
    delete_group,
    group_arn,
    owned_groups,
    rds_call,
    rds_error,
    tagged_group_names,
    tags_of_group,
)
from provisioner.steps.rds.instances import DbInstance

# SPEC section 9 (TLS only) and the logging an on-call engineer needs to read a slow or stuck
# database from CloudWatch Logs (the `postgresql` log export).
POSTGRES_PARAMETERS: dict[str, str] = {
    "rds.force_ssl": "1",  # refuse connections without TLS
    "log_connections": "1",
    "log_disconnections": "1",
    "log_lock_waits": "1",  # waits longer than deadlock_timeout (1 s)
    "log_min_duration_statement": "1000",  # statements slower than 1 s, with their text
    "log_autovacuum_min_duration": "10000",  # autovacuum runs longer than 10 s
    "log_temp_files": "10240",  # temporary files over 10 MiB (value in KiB)
    "log_statement": "ddl",  # every schema change
}
# Parameters that apply only after a reboot (RDS refuses ApplyMethod=immediate for them).
STATIC = frozenset(
    {"shared_preload_libraries", "max_connections", "wal_buffers", "max_worker_processes", "track_activity_query_size"}
)
BATCH = 20


def family(engine_version: str) -> str:
    return f"postgres{engine_version.split('.')[0]}"


@dataclass(kw_only=True)
class DbParameterGroup(Resource):
    name: str
    family: str
    description: str
    parameters: dict[str, str] = field(default_factory=lambda: dict(POSTGRES_PARAMETERS))

    type = "rds:db-parameter-group"
    iam_actions = (
        "rds:DescribeDBInstances",
        "rds:DescribeDBParameterGroups",
        "rds:DescribeDBParameters",
        "rds:ListTagsForResource",
        "tag:GetResources",
        "rds:CreateDBParameterGroup",
        "rds:ModifyDBParameterGroup",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
        "rds:DeleteDBParameterGroup",
    )
    create_seconds = 2.0
    delete_seconds = 2.0
    replace_on = frozenset({"name", "family"})

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        rds = ctx.aws.client("rds")
        items = cls._from_instances(ctx)
        if items is None:
            items = describe_all(rds, "describe_db_parameter_groups", "DBParameterGroups")
        lives = []
        for item, tags, key in owned_groups(ctx, rds, items, "DBParameterGroupName", "DBParameterGroupArn"):
            name = item["DBParameterGroupName"]
            try:
                user = describe_all(
                    rds, "describe_db_parameters", "Parameters", DBParameterGroupName=name, Source="user"
                )
            except ClientError as exc:
                if error_code(exc) == "DBParameterGroupNotFound":
                    continue
                raise
            lives.append(cls._live(item, tags, key, {p["ParameterName"]: p.get("ParameterValue") for p in user}))
        return lives

    @classmethod
    def _from_instances(cls, ctx: RunContext) -> list[dict[str, Any]] | None:
        """The parameter groups the plan's DB instances use, as DescribeDBParameterGroups would
        name them (name, family, ARN; not the description), or None when they may not be all
        of the plan's groups or an instance's family is not known (then the caller lists)."""
        groups: dict[str, dict[str, Any]] = {}
        for instance in ctx.live(DbInstance):
            raw = instance.raw or {}
            version = str(raw.get("EngineVersion") or "")
            pending = raw.get("PendingModifiedValues") or {}
            if raw.get("Engine") != "postgres" or not version or "EngineVersion" in pending:
                return None  # a family this module does not derive, or one about to change
            for used in raw.get("DBParameterGroups") or []:
                name = str(used.get("DBParameterGroupName") or "")
                if name and not name.startswith("default."):
                    groups[name] = {
                        "DBParameterGroupName": name,
                        "DBParameterGroupFamily": family(version),
                        "DBParameterGroupArn": group_arn(ctx, "pg", name),
                    }
        planned = {n.name for n in ctx.nodes.values() if isinstance(n, DbParameterGroup)}
        if not groups or not (planned | tagged_group_names(ctx, "pg")) <= set(groups):
            return None
        return list(groups.values())

    @classmethod
    def _live(cls, item: dict[str, Any], tags: dict[str, str], key: str, parameters: dict[str, Any]) -> Live:
        name = item["DBParameterGroupName"]
        return Live(
            key=key,
            id=name,
            tags=tags,
            raw=item,
            fields=cls.observe({**item, "UserParameters": parameters}),
            outputs={"name": name, "arn": item.get("DBParameterGroupArn"), "family": item["DBParameterGroupFamily"]},
        )

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: a parameter group (its name and family) with the values of its user-set
        parameters (DescribeDBParameters, Source=user) by name, as `UserParameters`."""
        return {
            "name": item["DBParameterGroupName"],
            "family": item["DBParameterGroupFamily"],
            "parameters": item["UserParameters"],
        }

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "parameters": Includes(sorted(self.parameters.items())),
        }

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        rds = ctx.aws.client("rds")
        try:
            item = rds.create_db_parameter_group(
                DBParameterGroupName=self.name,
                DBParameterGroupFamily=self.family,
                Description=self.description,
                Tags=to_list(ctx.tags_for(self)),
            )["DBParameterGroup"]
            live = self._live(item, ctx.tags_for(self), self.key, {})
        except ClientError as exc:
            if error_code(exc) != "DBParameterGroupAlreadyExists":
                raise rds_error(exc, self.key, hint=_family_hint(exc, self.family)) from exc
            item = rds.describe_db_parameter_groups(DBParameterGroupName=self.name)["DBParameterGroups"][0]
            tags = tags_of_group(rds, item["DBParameterGroupArn"])
            if tags.get(TAG_PLAN) != ctx.plan_name:
                raise OwnershipError(
                    f"DB parameter group {self.name} exists and is not this plan's",
                    key=self.key,
                    hint="rename or delete that group; provisioner never adopts what it does not own",
                ) from exc
            live = self._live(item, tags, self.key, {})
        return self.update(ctx, want, live, {"parameters": {}})

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        if "parameters" in diff:
            current = have.fields.get("parameters") or {}
            changed = [(n, v) for n, v in sorted(self.parameters.items()) if current.get(n) != v]
            for start in range(0, len(changed), BATCH):
                rds_call(
                    ctx,
                    self.key,
                    "modify_db_parameter_group",
                    DBParameterGroupName=have.id,
                    Parameters=[
                        {
                            "ParameterName": n,
                            "ParameterValue": v,
                            "ApplyMethod": "pending-reboot" if n in STATIC else "immediate",
                        }
                        for n, v in changed[start : start + BATCH]
                    ],
                )
            have.fields["parameters"] = {**current, **self.parameters}
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
        delete_group(ctx, have.key, "delete_db_parameter_group", DBParameterGroupName=have.id)


def _family_hint(exc: ClientError, wanted: str) -> str | None:
    if "family" in str(exc).lower():
        return f"{wanted} is not a parameter group family RDS knows; check database.engine_version"
    return None
