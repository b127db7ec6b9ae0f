"""The unit of work: a resource node of one kind, and what discovery says exists.

A kind is a `Resource` subclass that is mostly metadata (c7n's TypeInfo): its `type`
(`ec2:vpc`), the p50 seconds its create and delete take (latency-model.md, used for the
estimate), which fields force a replacement. Instances are graph nodes: a logical `key`
(`network/vpc`), explicit `depends_on` keys, and the spec values from the plan.

The split that keeps plan and apply on one code path:

- `discover(ctx)` (classmethod) only reads: one batched, tag-filtered describe per kind,
  returning `Live` records keyed by their `provisioner:key` tag;
- `observe(item)` (classmethod) makes no calls: the one place an item as AWS (or the API
  server) describes it becomes the kind's fields, used by `discover`/`read` and after a create
  or an update; what a kind reads beyond one describe is merged into the item first;
- `desired(refs)` makes no calls: the comparable fields this node wants, with dependency ids
  taken from `refs` (or `Pending` in a plan);
- `create` / `update` / `delete` (classmethod; it needs only the live record, so orphans can
  be deleted too) make the calls.

How a new kind declares itself: subclass the base of its shape in steps/common (`Ec2Resource`
for EC2's tag-filtered describes, `ListedResource` for a list-then-describe service such as
EKS's per-cluster kinds), give its `type`, `iam_actions` and the base's metadata (describe
operation, result key, id field, ...), then `observe`, `desired`, `create` and `delete`; the
base's generic `discover` does the reads. A kind of no such shape writes `discover` itself
and still returns `observe(item)` as each record's fields. Defining the class registers it
(`kinds()`); tests/steps/test_kinds_observe.py wants a sample item for its `observe`.

Most kinds write `create`, `delete` and `set_tags`; the engine's diff handles the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from provisioner.engine.change import Pending, field_changes
from provisioner.engine.errors import PermanentError

if TYPE_CHECKING:
    from provisioner.engine.context import RunContext


@dataclass
class Live:
    """One resource as it exists in AWS (or in the cluster)."""

    key: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    raw: Any = None


class Refs:
    """Outputs of nodes already applied (or planned), read by their dependents."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}
        self._types: dict[str, str] = {}

    def set(self, key: str, type_: str, outputs: Mapping[str, Any]) -> None:
        self._values[key] = dict(outputs)
        self._types[key] = type_

    def set_pending(self, key: str, type_: str) -> None:
        self._values[key] = {}
        self._types[key] = type_

    def get(self, key: str, attribute: str = "id") -> Any:
        if key not in self._types:
            raise KeyError(f"{key} is not a dependency that has run yet")
        value = self._values[key].get(attribute)
        if value is None:
            return Pending(self._types[key], key, attribute)
        return value

    def id(self, key: str) -> Any:
        return self.get(key, "id")

    def is_pending(self, key: str) -> bool:
        return not self._values.get(key)


# The registry of kinds: every concrete `Resource` subclass, by its `kind_name()` (c7n's
# resource registry). A kind registers itself when its class is defined, and a second class
# under a taken name fails the import that defines it, so one name never means two kinds.
_KINDS: dict[str, type[Resource]] = {}


class DuplicateKindError(TypeError):
    """Two classes registered under one kind name."""


def kinds() -> dict[str, type[Resource]]:
    """Every kind defined so far (import the step modules first), by name."""
    return dict(_KINDS)


def kind_named(name: str) -> type[Resource]:
    """The kind registered under `name` (`ec2:vpc`, `iam:role/ci`); KeyError if none is."""
    return _KINDS[name]


@dataclass(kw_only=True)
class Resource:
    """A node of the graph. Subclasses are kinds; see the module docstring."""

    key: str
    depends_on: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # Destroy-only ordering: keys that must be deleted before this node is (on top of the
    # reversed `depends_on`). A sweep of what the cluster's controllers left goes after the
    # cluster is gone, so nothing makes more of it meanwhile.
    destroy_after: tuple[str, ...] = ()

    type: ClassVar[str] = "abstract"
    create_seconds: ClassVar[float] = 1.0
    delete_seconds: ClassVar[float] = 1.0
    # Fields whose change cannot be made in place: the resource is replaced.
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # Kinds that cannot carry tags are named deterministically instead (SPEC section 5).
    taggable: ClassVar[bool] = True
    # Read-only kinds (data sources) own nothing: `read(ctx)` runs in plan and apply alike,
    # publishes outputs for dependents, and never creates, changes or deletes anything.
    read_only: ClassVar[bool] = False
    # Kinds destroy leaves in place by design (account-wide roles, member accounts).
    kept_on_destroy: ClassVar[bool] = False
    # The IAM actions this kind's discover/create/update/delete need, as IAM names them
    # (`ec2:CreateVpc`), including those AWS checks behind a call (iam:PassRole, kms:CreateGrant).
    # `provisioner iam-policy` builds the tool's least-privilege policy from them.
    iam_actions: ClassVar[tuple[str, ...]] = ()
    # Kinds that declare iam:CreateServiceLinkedRole name the services (`iam:AWSServiceName`,
    # e.g. `eks.amazonaws.com`) whose service-linked role their calls may create: the tool's
    # policy allows creating those and no other.
    linked_services: ClassVar[tuple[str, ...]] = ()
    # Sweep kinds own nothing the plan declares: they find what controllers inside the
    # cluster made (by the cluster's tags, not ours) and exist only in a destroy, where one
    # node deletes everything its `discover` finds. Apply and its plan never read them.
    sweep: ClassVar[bool] = False
    # Kinds AWS lets exist twice while one replaces the other (a managed node group): the new
    # resource is made under another name and is ready before the old one is deleted, so
    # what runs on it always has somewhere to go. Others are deleted, then created again.
    create_before_destroy: ClassVar[bool] = False
    # Kinds whose replacement or deletion a protected plan refuses unless the change is named
    # (`apply --allow-replace KEY`): what they hold cannot be made again from the plan (a
    # cluster's workloads, a database's data, a key's ciphertexts). `guard_reason` decides.
    guarded: ClassVar[bool] = False
    # Kinds that manage the same AWS type as another kind, in their own way (CI roles under
    # their own path, the GitHub OIDC provider, a sweep of what controllers left) name their
    # variant: the registry knows them as `<type>/<variant>`, while plan output and the
    # journal keep showing the AWS type.
    variant: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type == "abstract":
            return
        name = cls.kind_name()
        known = _KINDS.get(name)
        # The same class again (a module reloaded, a dataclass rebuilt) replaces itself.
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise DuplicateKindError(
                f"kind {name} is defined twice: {known.__module__}.{known.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}; give one of them its own `type` or a `variant`"
            )
        _KINDS[name] = cls

    @classmethod
    def kind_name(cls) -> str:
        """The kind's name in the registry: its `type`, and `/<variant>` for a variant."""
        return f"{cls.type}/{cls.variant}" if cls.variant else cls.type

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        raise NotImplementedError

    @classmethod
    def observe(cls, item: Any) -> dict[str, Any]:
        """The comparable fields of one item as AWS (or the cluster) describes it: the one place
        an item becomes this kind's fields, used by `discover`/`read` and after a create or an
        update. Pure: no calls, no clock, nothing but `item` (what a kind reads beyond one
        describe is merged into the item first). Kinds compared on nothing return `{}`."""
        raise NotImplementedError(f"{cls.type} does not define observe")

    def desired(self, refs: Refs) -> dict[str, Any]:
        return {}

    def read(self, ctx: RunContext) -> Live:
        """Read-only kinds: look the data up (see `read_only`)."""
        raise NotImplementedError

    def outputs(self, live: Live) -> dict[str, Any]:
        return {"id": live.id, **live.outputs}

    def report(self, have: Live) -> dict[str, Any]:
        """Facts about the live resource that plan shows without them being a change."""
        return {}

    # -- writing -----------------------------------------------------------------------------
    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        raise NotImplementedError

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        """Make `have` match `want` in place. The default handles tag-only changes."""
        fields = field_changes(diff)
        if fields:
            raise PermanentError(f"{self.type} cannot change {', '.join(sorted(fields))} in place", key=self.key)
        self.set_tags(ctx, have, ctx.tags_for(self))
        have.tags.update(ctx.tags_for(self))
        return have

    def set_tags(self, ctx: RunContext, have: Live, tags: dict[str, str]) -> None:
        raise NotImplementedError(f"{self.type} does not implement set_tags")

    def remove_tags(self, ctx: RunContext, have: Live, keys: list[str]) -> None:
        """Remove tag keys the plan no longer lists. Kinds that implement it record the keys
        they set and get removal diffs (engine/tags.py); the engine calls it after `update`."""
        raise NotImplementedError(f"{self.type} does not implement remove_tags")

    def needs_replacement(self, changed: set[str], have: Live) -> bool:
        """Whether the changed fields force a new resource; `replace_on` unless a kind knows better."""
        return bool(changed & self.replace_on)

    def replace_reason(self, changed: set[str], have: Live) -> str:
        """Why a replacement is needed, shown with the change (SPEC section 11)."""
        fields = sorted(changed & self.replace_on) or sorted(changed)
        return f"{self.type} cannot change {', '.join(fields)} in place"

    def fit(self, refs: Refs, want: dict[str, Any], have: Live) -> dict[str, Any]:
        """The desired fields adjusted to what the live resource allows, for facts fixed at
        its creation (an EKS control plane keeps the AZs it was created in). Makes no calls."""
        return want

    def container(self) -> str | None:
        """The key of the node whose resource holds this one (a node group lives in its
        cluster), or None. When the container is replaced, this resource is made again
        inside the new one: what discovery found inside the old one is never trusted."""
        return None

    def create_replacement(self, ctx: RunContext, want: dict[str, Any], old: Live) -> Live:
        """`create_before_destroy` kinds: make the new resource while `old` still exists
        (under another name); the runner deletes `old` once this returns."""
        return self.create(ctx, want)

    @classmethod
    def guard_reason(cls, ctx: RunContext, have: Live) -> str | None:
        """Why replacing or deleting `have` needs to be named in a protected plan, or None.
        `guarded` kinds always; a kind may instead look (a subnet only while it holds
        network interfaces). Reads only."""
        return f"a {cls.type} cannot be made again from the plan with what it holds" if cls.guarded else None

    def settle(self, ctx: RunContext, have: Live) -> Live:
        """Wait until an existing resource is usable (e.g. a NAT gateway still `pending`
        after an interrupted run). Called in apply for resources left unchanged or updated."""
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        raise NotImplementedError

    @classmethod
    def kept_reason(cls, ctx: RunContext, have: Live) -> str | None:
        """Why a destroy keeps this resource (only reads), or None when it deletes it: kinds
        kept by design, and kinds whose `delete` keeps what still matters (a KMS key that
        encrypts a kept snapshot). `plan --destroy` shows these as kept, not deleted."""
        return "destroy never deletes it" if cls.kept_on_destroy else None

    @classmethod
    def destroy_blockers(cls, ctx: RunContext, have: Live) -> list[str]:
        """`plan --destroy`'s preflight: what would keep this resource from being deleted that
        the destroy itself will not remove (someone else's instance in a subnet...), one line
        each. Most kinds have nothing to say."""
        return []

    @classmethod
    def delete_all(cls, ctx: RunContext, found: list[Live]) -> None:
        """A sweep deletes what it found at once; kinds that can batch (terminate many
        instances, one wait) override this."""
        for live in found:
            ctx.progress(
                live.key,
                f"deleting {cls.type} {live.id}" + (f" ({live.fields['reason']})" if live.fields.get("reason") else ""),
            )
            cls.delete(ctx, live)

    def describe(self) -> str:
        return f"{self.type} {self.key}"
