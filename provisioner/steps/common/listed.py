"""Kinds AWS lists by name and describes one at a time: one generic discover driven by data.

Where EC2 has a tag-filtered describe (`ec2.py`), most other services only list names inside a
parent (ListAddons, ListAccessEntries, ListPodIdentityAssociations, ListNodegroups take a
cluster) and return tags only from the describe of each. A kind of that shape declares a
`Listing` (Cloud Custodian's TypeInfo: service, list and describe operations, their keys, the
parent's parameter, gone states, how the node's id is spelled) and `scopes(ctx)`, the parents
to list in; `ListedResource.discover` does the reads and `observe(item)` turns each described
item into the kind's fields, with no I/O.

- The list follows pages (`describe_all`); each describe goes through the call wrapper
  (aws/calls.py), and "not found" there (an item deleted between list and describe) skips it.
- A describe answer lacking the parent's name gets it from the list call (`setdefault`), so
  `observe` and the id template read it from the item alone; EKS's answers carry it already.
- Items in a gone state (an add-on `DELETING`) do not count as existing, as in `ec2.py`.
- Ownership is the `provisioner:key` and plan tags (`owned_key`); a kind that matches items to
  nodes otherwise (access entries by principal) overrides `discover` and reuses `described`,
  `enrich` and `live_of`.

Not memoised with `ctx.cached`: `ctx.live` already reads a kind once per run, and
`ctx.rediscover` must see a parent made again under the same name (a replaced cluster), which a
memo of the lists would hide.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from provisioner.aws.calls import call
from provisioner.aws.discovery import describe_all
from provisioner.aws.errors import ClientError, error_code, is_not_found
from provisioner.aws.tags import owned_key
from provisioner.engine import Live, Resource, RunContext


@dataclass(frozen=True)
class Listing:
    """How a kind is read: `list_operation` in each scope, then `describe_operation` per item."""

    service: str  # boto3's name: "eks"
    list_operation: str  # "list_addons"
    list_key: str  # the list answer's key: "addons"
    describe_operation: str  # "describe_addon"
    describe_key: str  # the describe answer's key: "addon"
    id_param: str  # the describe's parameter naming one item: "addonName"
    # Live.id, formatted with the described item: "{clusterName}/{addonName}".
    live_id: str
    # A listed item's field holding `id_param`'s value; None when the list returns bare names.
    list_id: str | None = None
    # The parameter both calls take for the parent ("clusterName"); None for none.
    scope_param: str | None = None
    # Error codes besides the usual "not found" ones (`is_not_found`) that mean the item is gone.
    not_found: frozenset[str] = frozenset()
    state_field: str | None = None
    gone_states: frozenset[str] = frozenset()
    tags_field: str = "tags"  # a map of tags in the described item (EKS); never a Key/Value list


class ListedResource(Resource):
    """A kind read through a `Listing` (see the module docstring)."""

    listing: ClassVar[Listing]

    @classmethod
    def scopes(cls, ctx: RunContext) -> list[str | None]:
        """The parents to list in (cluster names); `[None]` for an account-wide list."""
        return [None]

    @classmethod
    def described(cls, ctx: RunContext) -> Iterator[dict[str, Any]]:
        """Every item that exists in every scope, as its describe returns it."""
        listing = cls.listing
        client = ctx.aws.client(listing.service)

        def missing(exc: ClientError) -> bool:
            return is_not_found(exc) or error_code(exc) in listing.not_found

        for scope in cls.scopes(ctx):
            where: dict[str, Any] = {listing.scope_param: scope} if listing.scope_param else {}
            for listed in describe_all(client, listing.list_operation, listing.list_key, **where):
                name = listed[listing.list_id] if listing.list_id else listed
                params: dict[str, Any] = {**where, listing.id_param: name}
                answer = call(
                    ctx,
                    listing.service,
                    listing.describe_operation,
                    key=None,
                    missing_ok=True,
                    is_missing=missing,
                    **params,
                )
                item = answer.get(listing.describe_key)
                if not item:
                    continue  # deleted between the list and the describe
                if listing.scope_param:
                    item.setdefault(listing.scope_param, scope)
                if listing.state_field and item.get(listing.state_field) in listing.gone_states:
                    continue
                yield item

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        lives = []
        for item in cls.described(ctx):
            key = owned_key(cls.tags_of(item), ctx.plan_name)
            if key is not None:
                lives.append(cls.live_of(key, cls.enrich(ctx, item)))
        return lives

    @classmethod
    def enrich(cls, ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
        """Reads beyond the describe that `observe` needs (an access entry's policies), merged
        into the item; only for items this plan owns. Most kinds need none."""
        return item

    @classmethod
    def tags_of(cls, item: dict[str, Any]) -> dict[str, str]:
        return dict(item.get(cls.listing.tags_field) or {})

    @classmethod
    def outputs_of(cls, item: dict[str, Any]) -> dict[str, Any]:
        """What dependents read besides the id (an ARN); no I/O, like `observe`."""
        return {}

    @classmethod
    def live_of(cls, key: str, item: dict[str, Any], tags: dict[str, str] | None = None) -> Live:
        """The record of a described (or just created) item: the one place it becomes a `Live`.
        `tags`: what a create just set (its answer may lack them); by default the item's."""
        return Live(
            key=key,
            id=cls.listing.live_id.format_map(item),
            tags=cls.tags_of(item) if tags is None else tags,
            raw=item,
            fields=cls.observe(item),
            outputs=cls.outputs_of(item),
        )
