"""`k8s:object`: a Kubernetes object the tool server-side applies (field manager `provisioner`,
force on), the base of every in-cluster kind.

Discovery: one label-selected list per Kubernetes kind per cluster (`kube.objects`), keys
from the `provisioner.innovate.io/key` annotation. Drift: only the fields the manifest sets
are compared, so an edit in the cluster shows as an update naming the field and the next
apply restores it. Only objects carrying the plan's ownership labels are ever listed; a
delete re-reads the object and leaves it alone unless it still carries them and the same
key; a create never adopts an object of the same name that lacks them.

A manifest may hold `Ref`s: values known only at apply time (the cluster's endpoint), read
from the refs when the object is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from provisioner.engine import Live, OwnershipError, Pending, PermanentError, Refs, Resource, RunContext
from provisioner.kube import client as kube
from provisioner.kube.objects import (
    desired_fields,
    key_of,
    object_id,
    observed_fields,
    owned_by,
    ownership_selector,
)
from provisioner.steps.common.keys import CLUSTER
from provisioner.steps.k8s.connection import api_for, call, require_api

# An endpoint stand-in where only the manifest's shape matters (discovery compares shapes).
_SHAPE_PLACEHOLDER = "<placeholder>"


# --- values known only at apply time --------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value taken from a dependency's outputs when the manifest is rendered."""

    key: str
    attr: str

    def __str__(self) -> str:
        return f"<{self.key} {self.attr}>"


def resolve(manifest: Any, refs: Refs | None) -> Any:
    """The manifest with every `Ref` replaced: by the ref's value (possibly `Pending` in a
    plan), or, with `refs` None, by a placeholder (for comparing shapes)."""
    if isinstance(manifest, Ref):
        return _SHAPE_PLACEHOLDER if refs is None else refs.get(manifest.key, manifest.attr)
    if isinstance(manifest, dict):
        return {k: resolve(v, refs) for k, v in manifest.items()}
    if isinstance(manifest, list):
        return [resolve(v, refs) for v in manifest]
    return manifest


def has_pending(value: Any) -> bool:
    if isinstance(value, Pending):
        return True
    if isinstance(value, dict):
        return any(has_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(has_pending(v) for v in value)
    return False


@dataclass(kw_only=True)
class KubeObject(Resource):
    """An object the tool server-side applies. `manifest` may hold `Ref`s (see `resolve`)."""

    manifest: dict[str, Any]

    type = "k8s:object"
    iam_actions = ("eks:DescribeCluster",)
    create_seconds = 1.0
    delete_seconds = 1.0
    taggable = False  # ownership is in labels and the key annotation (kube.objects)
    # (apiVersion, kind) this class lists in discovery.
    api_kinds: ClassVar[tuple[tuple[str, str], ...]] = (
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "Service"),
        ("policy/v1", "PodDisruptionBudget"),
    )
    # Changes the API refuses in place: the object is deleted and created again.
    immutable: ClassVar[tuple[str, ...]] = ("roleRef", "spec.selector")

    def container(self) -> str | None:
        return CLUSTER  # a new cluster starts without it, whatever the old one held

    # -- reading ---------------------------------------------------------------------------
    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        api = api_for(ctx)
        if api is None:
            return []
        selector = ownership_selector(ctx.plan_name)
        lives = []
        for api_version, kind in cls.api_kinds:
            objects = call(None, f"listing {kind}", kube.list_objects, api, api_version, kind, None, selector)
            for obj in objects:
                key = key_of(obj)
                if key is None or not owned_by(obj, ctx.plan_name):
                    continue
                node = ctx.nodes.get(key)
                fields = node.observed(ctx, obj) if isinstance(node, cls) else {}
                lives.append(cls.live_record(key, obj, fields))
        return lives

    @staticmethod
    def live_record(key: str, obj: dict[str, Any], fields: dict[str, Any]) -> Live:
        metadata = obj.get("metadata") or {}
        return Live(
            key=key,
            id=object_id(obj),
            fields=fields,
            raw=obj,
            outputs={"name": metadata.get("name"), "namespace": metadata.get("namespace"), "uid": metadata.get("uid")},
        )

    def render(self, refs: Refs | None) -> dict[str, Any]:
        return resolve(self.manifest, refs)  # a new tree: the node's manifest stays as built

    def observed(self, ctx: RunContext, obj: dict[str, Any]) -> dict[str, Any]:
        """The fields of `obj` this node compares: `observe` of the object with what the node
        adds to it (its manifest names the fields it owns)."""
        return self.observe({"object": obj, "manifest": self.render(None)})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the object as the API server returns it (`object`) and the node's rendered
        manifest (`manifest`), whose fields are the ones compared."""
        return observed_fields(item["object"], item["manifest"])

    def desired(self, refs: Refs) -> dict[str, Any]:
        return desired_fields(self.render(refs))

    def needs_replacement(self, changed: set[str], have: Live) -> bool:
        return bool(self._immutable_changes(changed))

    def replace_reason(self, changed: set[str], have: Live) -> str:
        return f"the Kubernetes API refuses to change {', '.join(self._immutable_changes(changed))} in place"

    def _immutable_changes(self, changed: set[str]) -> list[str]:
        return sorted(
            f for f in changed for p in self.immutable if f == p or f.startswith(p + ".") or f.startswith(p + "[")
        )

    def describe(self) -> str:
        return f"{self.type} {object_id(self.manifest)}"

    # -- writing ---------------------------------------------------------------------------
    def manifest_for_apply(self, ctx: RunContext) -> dict[str, Any]:
        manifest = self.render(ctx.refs)
        if has_pending(manifest):
            raise PermanentError("a value this object needs is not known yet (a dependency did not run)", key=self.key)
        return manifest

    def create(self, ctx: RunContext, want: dict[str, Any]) -> Live:
        api = require_api(ctx, self.key)
        manifest = self.manifest_for_apply(ctx)
        metadata = manifest["metadata"]
        existing = call(
            self.key,
            f"reading {object_id(manifest)}",
            kube.get,
            api,
            manifest["apiVersion"],
            manifest["kind"],
            metadata["name"],
            metadata.get("namespace"),
        )
        if existing is not None and not (owned_by(existing, ctx.plan_name) and key_of(existing) in (None, self.key)):
            raise OwnershipError(
                f"{object_id(manifest)} exists but does not carry plan {ctx.plan_name}'s ownership labels and key",
                key=self.key,
                hint="provisioner never adopts objects it did not create; remove that object (for example a Helm "
                "install of Karpenter) or label it yourself if it should be managed here",
            )
        return self._apply(ctx, api, manifest)

    def update(self, ctx: RunContext, want: dict[str, Any], have: Live, diff: dict[str, Any]) -> Live:
        api = require_api(ctx, self.key)
        return self._apply(ctx, api, self.manifest_for_apply(ctx))

    def _apply(self, ctx: RunContext, api: Any, manifest: dict[str, Any]) -> Live:
        applied = call(self.key, f"applying {object_id(manifest)}", kube.server_side_apply, api, manifest)
        live = self.live_record(self.key, applied, self.observed(ctx, applied))
        return self.settle(ctx, live)

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        api = require_api(ctx, have.key)
        if delete_if_ours(ctx, api, have):
            cls.wait_deleted(ctx, api, have)

    @classmethod
    def wait_deleted(cls, ctx: RunContext, api: Any, have: Live) -> None:
        """Objects whose deletion Karpenter finishes wait here; most go at once."""


def delete_if_ours(ctx: RunContext, api: Any, have: Live) -> bool:
    """Delete the object `have` stands for if it still carries this plan's labels and the same
    key (never an object someone else took over meanwhile). True if a delete was sent."""
    raw = have.raw or {}
    metadata = raw.get("metadata") or {}
    api_version, kind, name, namespace = (
        raw.get("apiVersion"),
        raw.get("kind"),
        metadata.get("name"),
        metadata.get("namespace"),
    )
    current = call(have.key, f"reading {have.id}", kube.get, api, api_version, kind, name, namespace)
    if current is None:
        return False
    if not owned_by(current, ctx.plan_name) or key_of(current) != have.key:
        ctx.progress(have.key, f"left {have.id} alone: it no longer carries this plan's ownership labels and key")
        return False
    return bool(call(have.key, f"deleting {have.id}", kube.delete, api, api_version, kind, name, namespace))
