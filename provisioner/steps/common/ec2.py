"""What every EC2 networking kind shares: discovery by the plan tag, tagging, deleting.

A kind declares its describe operation, result key, id field and TagSpecifications resource
type, and `observe(item)` to turn a described item into the fields it compares (no I/O;
what the describe lacks, a VPC's DNS attributes, `enrich` reads into a copy of the item).
Items in a terminal state (a NAT gateway `deleted`, a VPC being torn down) are skipped so
they do not count as existing. Kinds AWS lists per parent instead are `listed.py`'s.
"""

from __future__ import annotations

from typing import Any, ClassVar

from provisioner.aws.blockers import explain_refusal
from provisioner.aws.calls import call
from provisioner.aws.discovery import describe_plan_ec2
from provisioner.aws.tags import from_list, key_of, tag_specifications, to_list
from provisioner.constants import TAG_PLAN, cluster_name
from provisioner.engine import Live, Resource, RunContext, TemporaryError


class Ec2Resource(Resource):
    describe_operation: ClassVar[str]
    result_key: ClassVar[str]
    id_field: ClassVar[str]
    tag_resource_type: ClassVar[str]
    state_field: ClassVar[str | None] = None
    gone_states: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = []
        for item in describe_plan_ec2(ctx, cls.describe_operation, cls.result_key):
            if cls.state_field and item.get(cls.state_field) in cls.gone_states:
                continue
            tags = from_list(item.get("Tags"))
            key = key_of(tags)
            # The server-side filter already selected the plan; checking again here means a
            # service that ignores a filter can never make us adopt another plan's resource.
            if key is None or tags.get(TAG_PLAN) != ctx.plan_name:
                continue
            item = cls.enrich(ctx, item)
            lives.append(Live(key=key, id=item[cls.id_field], fields=cls.observe(item), tags=tags, raw=item))
        return lives

    @classmethod
    def enrich(cls, ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
        """Reads beyond the shared describe that `observe` needs (a VPC's DNS attributes),
        merged into a copy of the item; only for items this plan owns. Most kinds need none."""
        return item

    def tag_specs(self, ctx: RunContext) -> list[dict[str, object]]:
        return tag_specifications(self.tag_resource_type, ctx.tags_for(self))

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        ctx.aws.client("ec2").create_tags(Resources=[have.id], Tags=to_list(tags))

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        # A tag given by key alone is deleted whatever its value.
        ec2_call(ctx, self.key, "delete_tags", Resources=[have.id], Tags=[{"Key": k} for k in keys])

    def live(self, ctx: RunContext, item: dict[str, Any]) -> Live:
        """A Live record for an item this node just created."""
        tags = from_list(item.get("Tags")) or ctx.tags_for(self)
        return Live(key=self.key, id=item[self.id_field], fields=self.observe(item), tags=tags, raw=item)


def delete_in_use(
    ctx: RunContext, key: str, operation: str, resource_type: str, resource_id: str, **params: Any
) -> None:
    """A delete EC2 may refuse with DependencyViolation: the error then says what uses the
    resource (aws.blockers), and waits only while all of that goes by itself."""
    try:
        ec2_call(ctx, key, operation, missing_ok=True, **params)
    except TemporaryError as exc:
        if exc.code != "DependencyViolation":
            raise
        raise explain_refusal(
            ctx.aws,
            resource_type,
            resource_id,
            plan=ctx.plan_name,
            cluster=cluster_name(ctx.plan_name),
            leaving=ctx.leaving,
            key=key,
            error=exc,
        ) from exc


def ec2_call(ctx: RunContext, key: str, operation: str, *, missing_ok: bool = False, **params: Any) -> dict[str, Any]:
    """Call an EC2 operation, mapping errors to the engine's taxonomy.

    `missing_ok` makes "not found" a success (deletes: the thing is already gone).
    """
    return call(ctx, "ec2", operation, key=key, missing_ok=missing_ok, **params)
