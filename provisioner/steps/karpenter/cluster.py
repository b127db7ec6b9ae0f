"""Karpenter inside the cluster: CRDs, controller, EC2NodeClass and NodePools (SPEC section 8).

Kinds (all server-side applied with field manager `provisioner`, force on):

- `k8s:crd`: the official CRDs of the pinned version (`crds.py`: verified by SHA-256,
  cached, never copied into the repository). Applied on every apply whose CRDs differ, and
  before the controller, so an upgrade moves the CRDs first. A CRD is deleted only by a
  destroy (or when a new version drops it), and only once no object of its kind is left:
  Karpenter's NodeClaims are waited for, any other object makes the deletion fail rather
  than be swept away with the CRD.
- `k8s:object`: the controller's ServiceAccount, RBAC, PodDisruptionBudget and Service.
- `k8s:deployment`: the controller; create, update and every apply that leaves it
  unchanged wait until it is Available with every replica updated (progress is reported).
- `k8s:ec2nodeclass`, `k8s:nodepool`: deletion waits until Karpenter has finished: a
  NodePool until the NodeClaims of that pool are gone, an EC2NodeClass until its finalizer
  is removed (SPEC section 7's order: NodePools, nodes, EC2NodeClass, controller).

Graph (true dependencies only; every node needs the API server and the tool's access entry,
`eks/cluster` + `eks/access/tool-admin`):

    karpenter/crd/{nodepools,nodeclaims,ec2nodeclasses} ──┐
    karpenter/{serviceaccount,clusterrole*,role*}/... ─────┤   (PDB and metrics Service: API only)
    karpenter/pod-identity, eks/nodegroup/system, ─────────┼──> karpenter/deployment/karpenter
    eks/addon/coredns, karpenter/interruption-queue ───────┘          │ (waits until Available)
    karpenter/crd/ec2nodeclasses, karpenter/node-role, ──────> karpenter/ec2nodeclass/default
    karpenter/node-access-entry                                       │
    karpenter/crd/nodepools ─────────────────────────────────> karpenter/nodepool/<pool>

A destroy walks it backwards: NodePools (and their nodes), the EC2NodeClass, the controller,
then the CRDs, the node group and the cluster.

CRD files are needed when the cluster exists (discovery verifies them, so a digest mismatch
fails the plan before anything is written) or when the CRDs are created; a plan for an
environment without a cluster needs neither them nor a connection.

Discovery: one label-selected list per Kubernetes kind per cluster (`kube.objects`), keys
from the `provisioner.innovate.io/key` annotation. The API is reached exactly as on EKS:
endpoint and CA from the cluster (`eks:cluster` refs when it was created in this run, else
its discovery record), a token from STS (`eks_token`). No cluster, or one without an
endpoint yet: nothing is live, so a plan shows creates.

Drift: only the fields the manifests set are compared (`kube.objects`), so a NodePool field
changed in the plan or edited in the cluster shows as an update naming the field, and the
next server-side apply restores it; fields the tool set before and the plan no longer sets
show as `stale_fields` and are removed by that apply. Objects the plan no longer lists are
deleted by the engine's orphan handling; only objects carrying the plan's ownership labels
are ever listed, and a delete re-reads the object and leaves it alone unless it still
carries them and the same key. A create never adopts an object of the same name that lacks
the labels (it fails with an ownership error).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from provisioner.aws.eks_token import eks_token
from provisioner.aws.waiters import wait_for
from provisioner.constants import cluster_name
from provisioner.engine import Live, OwnershipError, Pending, PermanentError, Refs, Resource, RunContext, TemporaryError
from provisioner.kube import client as kube
from provisioner.kube.client import KubeApiError
from provisioner.kube.objects import (
    desired_fields,
    key_of,
    mark,
    object_id,
    observed_fields,
    other_managers,
    owned_by,
    ownership_selector,
    project,
)
from provisioner.planfile import EnvironmentPlan, Plan
from provisioner.steps.eks import CLUSTER, NODEGROUP, addon_key
from provisioner.steps.eks.clusters import Cluster
from provisioner.steps.karpenter import crds, manifests
from provisioner.steps.karpenter.manifests import DEPLOYMENT_KEY, NODE_CLASS_KEY, Inputs, crd_key

TOOL_ACCESS = "eks/access/tool-admin"
POD_IDENTITY = "karpenter/pod-identity"
NODE_ACCESS_ENTRY = "karpenter/node-access-entry"
COREDNS = addon_key("coredns")

ANNOTATION_VERSION = "provisioner.innovate.io/karpenter-version"
ANNOTATION_SOURCE = "provisioner.innovate.io/source-sha256"

DEPLOYMENT_TIMEOUT = 600.0  # latency-model.md: controller ready p95 180 s
CRD_ESTABLISHED_TIMEOUT = 120.0
NODEPOOL_DELETE_TIMEOUT = 1800.0  # nodes drain, then instances terminate
NODECLASS_DELETE_TIMEOUT = 600.0
READY_TIMEOUT = 300.0  # Karpenter resolves a class's subnets, groups and AMI within a minute
NODECLAIM_CRD_RETRY_SECONDS = 10.0

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


def _has_pending(value: Any) -> bool:
    if isinstance(value, Pending):
        return True
    if isinstance(value, dict):
        return any(_has_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_pending(v) for v in value)
    return False


# --- reaching the cluster -------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    name: str
    endpoint: str
    ca: str


def connection(ctx: RunContext) -> Connection | None:
    """Endpoint and CA of the plan's cluster, or None while there is none to talk to."""
    name = cluster_name(ctx.plan_name)
    endpoint = ca = None
    try:
        endpoint, ca = ctx.refs.get(CLUSTER, "endpoint"), ctx.refs.get(CLUSTER, "certificate_authority")
    except KeyError:  # the cluster node has not run (yet) in this run: use discovery
        pass
    if not (isinstance(endpoint, str) and isinstance(ca, str)):
        endpoint = ca = None
        for live in ctx.live(Cluster):
            status = (live.raw or {}).get("status")
            if live.key == CLUSTER and status not in ("CREATING", "FAILED", "DELETING"):
                endpoint, ca, name = live.outputs.get("endpoint"), live.outputs.get("certificate_authority"), live.id
    if not (isinstance(endpoint, str) and endpoint and isinstance(ca, str) and ca):
        return None
    return Connection(name, endpoint, ca)


def api_for(ctx: RunContext) -> Any | None:
    """A Kubernetes client for the cluster (one per run and endpoint), or None."""
    conn = connection(ctx)
    if conn is None:
        return None
    region = ctx.region

    def make() -> Any:
        return kube.api_client(conn.endpoint, conn.ca, lambda: eks_token(ctx.aws, conn.name, region))

    return ctx.cached(("kube-api", conn.endpoint), make)


def require_api(ctx: RunContext, key: str) -> Any:
    api = api_for(ctx)
    if api is None:
        raise TemporaryError(
            f"cluster {cluster_name(ctx.plan_name)} has no reachable API endpoint yet", key=key, delay=10
        )
    return api


def kube_error(exc: KubeApiError, key: str | None, what: str) -> Exception:
    """A client error as the engine's taxonomy: retry what may pass (no answer, throttling,
    server errors, credentials not yet known to a brand-new cluster), fail the rest."""
    message = f"{what}: Kubernetes API answered {exc.status} {exc.reason}: {exc.message}"
    if exc.status in (0, 429, 500, 502, 503, 504):
        return TemporaryError(
            message,
            key=key,
            code=exc.reason,
            delay=10,
            hint="the cluster's API server may still be starting; the step retries",
        )
    if exc.status in (401, 403):
        return TemporaryError(
            message,
            key=key,
            code=exc.reason,
            delay=10,
            hint="the caller needs an EKS access entry with cluster admin (eks/access/tool-admin); "
            "new entries take a few seconds to apply",
        )
    return PermanentError(message, key=key, code=exc.reason)


def call(key: str | None, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except KubeApiError as exc:
        raise kube_error(exc, key, what) from None


# --- kinds ----------------------------------------------------------------------------------


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
                fields = node.observe(ctx, obj) if isinstance(node, cls) else {}
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

    def observe(self, ctx: RunContext, obj: dict[str, Any]) -> dict[str, Any]:
        return observed_fields(obj, self.render(None))

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
        if _has_pending(manifest):
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
        live = self.live_record(self.key, applied, self.observe(ctx, applied))
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


@dataclass(kw_only=True)
class CustomResourceDefinition(KubeObject):
    """One upstream CRD of the pinned Karpenter version (`file` in `crds.PINNED`)."""

    version: str
    file: str
    crd_name: str
    manifest: dict[str, Any] = None  # type: ignore[assignment]  # loaded (verified) when needed

    type = "k8s:crd"
    iam_actions = ("eks:DescribeCluster",)
    api_kinds = (("apiextensions.k8s.io/v1", "CustomResourceDefinition"),)
    immutable = ()

    def upstream(self, ctx: RunContext) -> dict[str, Any]:
        """This CRD from the pinned files (read and verified once per run)."""

        def load() -> list[dict[str, Any]] | PermanentError:
            try:
                return crds.load_crds(self.version)
            except PermanentError as exc:  # remembered, so one run does not fetch again per CRD
                return exc

        loaded = ctx.cached(("karpenter-crds", self.version), load)
        if isinstance(loaded, PermanentError):
            raise type(loaded)(loaded.message, key=self.key, code=loaded.code, hint=loaded.hint)
        for crd in loaded:
            if (crd.get("metadata") or {}).get("name") == self.crd_name:
                return crd
        raise PermanentError(f"the CRD files of Karpenter {self.version} hold no {self.crd_name}", key=self.key)

    @classmethod
    def discover(cls, ctx: RunContext) -> list[Live]:
        # With a reachable cluster, verify the pinned files before anything is compared or
        # applied: a digest mismatch fails the plan, so nothing at all is written. Files that
        # cannot be had (offline, no directory given) do not stop a plan or a destroy: the
        # CRDs then compare as "unverified", and applying them says what is missing.
        if api_for(ctx) is not None:
            for node in ctx.nodes.values():
                if isinstance(node, cls):
                    try:
                        node.upstream(ctx)
                    except crds.CrdDigestError:
                        raise
                    except PermanentError:
                        break
        return super().discover(ctx)

    def source_digest(self) -> str:
        return crds.crd_files(self.version)[self.file]

    def desired(self, refs: Refs) -> dict[str, Any]:
        # Known without reading the files: a plan needs them only when the CRD exists.
        return {"version": self.version, "source_sha256": self.source_digest(), "spec": "upstream"}

    def observe(self, ctx: RunContext, obj: dict[str, Any]) -> dict[str, Any]:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        try:
            upstream = self.upstream(ctx)["spec"]
        except crds.CrdDigestError:
            raise
        except PermanentError:
            return {
                "version": annotations.get(ANNOTATION_VERSION),
                "source_sha256": annotations.get(ANNOTATION_SOURCE),
                "spec": "unverified",
            }
        # Modified: the spec differs from the file and someone else wrote to it. (A spec that
        # only the tool applied is the file's even where the API server normalised it.)
        modified = project(obj.get("spec"), upstream) != upstream and bool(other_managers(obj, ("spec",)))
        return {
            "version": annotations.get(ANNOTATION_VERSION),
            "source_sha256": annotations.get(ANNOTATION_SOURCE),
            "spec": "modified" if modified else "upstream",
        }

    def describe(self) -> str:
        return f"{self.type} {self.crd_name}"

    def manifest_for_apply(self, ctx: RunContext) -> dict[str, Any]:
        crd = copy.deepcopy(self.upstream(ctx))
        crd.pop("status", None)
        metadata = crd.setdefault("metadata", {})
        metadata.setdefault("labels", {}).update(manifests.version_labels(self.version))
        marked = mark(crd, ctx.plan_name, self.key)
        marked["metadata"]["annotations"].update(
            {ANNOTATION_VERSION: self.version, ANNOTATION_SOURCE: self.source_digest()}
        )
        return marked

    def settle(self, ctx: RunContext, have: Live) -> Live:
        """Wait until the API server serves the new kind (condition Established)."""
        api = require_api(ctx, self.key)

        def state() -> str:
            crd = call(
                self.key,
                f"reading CRD {self.crd_name}",
                kube.get,
                api,
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                self.crd_name,
            )
            if crd is None:
                return "absent"
            for condition in (crd.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Established" and condition.get("status") == "True":
                    return "established"
                if condition.get("type") == "NamesAccepted" and condition.get("status") == "False":
                    return "names not accepted"
            return "not established"

        wait_for(
            ctx,
            key=self.key,
            what=f"CRD {self.crd_name}",
            read_state=state,
            done={"established"},
            failed={"names not accepted", "absent"},
            timeout=CRD_ESTABLISHED_TIMEOUT,
        )
        return have

    @classmethod
    def delete(cls, ctx: RunContext, have: Live) -> None:
        api = require_api(ctx, have.key)
        spec = (have.raw or {}).get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")] or [
            v["name"] for v in spec.get("versions") or []
        ]
        if kind and storage:
            objects = call(have.key, f"listing {kind}", kube.list_objects, api, f"{spec['group']}/{storage[0]}", kind)
            if objects and kind == "NodeClaim" and controller_running(ctx, api, have.key):
                raise TemporaryError(
                    f"{len(objects)} NodeClaim(s) still exist: waiting for Karpenter to terminate their "
                    "nodes before removing the CRD",
                    key=have.key,
                    delay=NODECLAIM_CRD_RETRY_SECONDS,
                )
            if objects:
                # Deleting the CRD would delete objects this plan did not make (or that a dead
                # controller can no longer finish): keep it. The destroy goes on; the cluster's
                # own deletion takes the CRD and its objects, and the sweep their instances.
                ctx.progress(
                    have.key,
                    f"kept CRD {have.outputs.get('name')}: {len(objects)} {kind} object(s) not this "
                    "plan's to delete still exist; they go with the cluster",
                )
                return
        delete_if_ours(ctx, api, have)


@dataclass(kw_only=True)
class Deployment(KubeObject):
    """The controller's Deployment: applying it waits until it is available."""

    type = "k8s:deployment"
    iam_actions = ("eks:DescribeCluster",)
    create_seconds = 60.0  # latency-model.md: Karpenter controller ready after install
    delete_seconds = 5.0
    api_kinds = (("apps/v1", "Deployment"),)
    immutable = ("spec.selector",)

    def settle(self, ctx: RunContext, have: Live) -> Live:
        api = require_api(ctx, self.key)
        metadata = self.manifest["metadata"]
        latest: dict[str, Any] = {}

        def state() -> str:
            obj = call(
                self.key,
                f"reading {object_id(self.manifest)}",
                kube.get,
                api,
                "apps/v1",
                "Deployment",
                metadata["name"],
                metadata.get("namespace"),
            )
            if obj is None:
                return "absent"
            latest.clear()
            latest.update(obj)
            return rollout_state(obj)

        wait_for(
            ctx,
            key=self.key,
            what=f"Deployment {metadata.get('namespace')}/{metadata['name']}",
            read_state=state,
            done={"available"},
            failed={"absent", "progress deadline exceeded"},
            timeout=DEPLOYMENT_TIMEOUT,
            expected=self.create_seconds,  # a rollout, new or updated; the first read ends a done one
        )
        if latest:
            have.raw = dict(latest)
        return have


def controller_running(ctx: RunContext, api: Any, key: str) -> bool:
    """Whether Karpenter's controller Deployment is available, i.e. something will finish the
    deletions its finalizers hold (NodeClaims, EC2NodeClass)."""
    from provisioner.steps.karpenter import NAMESPACE

    obj = call(
        key, "reading the Karpenter Deployment", kube.get, api, "apps/v1", "Deployment", manifests.NAME, NAMESPACE
    )
    return obj is not None and rollout_state(obj) == "available"


def rollout_state(obj: dict[str, Any]) -> str:
    """`available` once every replica runs the current template; else what is missing."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation") or 0
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "progress deadline exceeded"
    if (status.get("observedGeneration") or 0) < generation:
        return "rollout not started"
    updated, available = status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0
    if (conditions.get("Available") or {}).get("status") == "True" and updated >= replicas and available >= replicas:
        return "available"
    return f"{available}/{replicas} available, {updated}/{replicas} updated"


def wait_ready(ctx: RunContext, node: KubeObject, have: Live) -> Live:
    """Until Karpenter reports the object `Ready` (an EC2NodeClass once its subnets, security
    groups, AMI and instance profile resolve; a NodePool once its class is ready). A NodePool
    that never gets ready launches no node, which apply would otherwise report as success."""
    api = require_api(ctx, node.key)
    metadata = node.manifest["metadata"]
    api_version, kind, name = node.manifest["apiVersion"], node.manifest["kind"], metadata["name"]
    latest: dict[str, Any] = {}

    def state() -> str:
        obj = call(node.key, f"reading {kind} {name}", kube.get, api, api_version, kind, name)
        if obj is None:
            return "absent"
        latest.clear()
        latest.update(obj)
        ready = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}.get("Ready") or {}
        if ready.get("status") == "True":
            return "Ready"
        return f"not ready ({ready.get('reason') or 'no status yet'}{': ' + ready['message'] if ready.get('message') else ''})"

    wait_for(
        ctx,
        key=node.key,
        what=f"{kind} {name}",
        read_state=state,
        done={"Ready"},
        failed={"absent"},
        timeout=READY_TIMEOUT,
    )
    if latest:
        have.raw = dict(latest)
    return have


@dataclass(kw_only=True)
class EC2NodeClass(KubeObject):
    type = "k8s:ec2nodeclass"
    iam_actions = ("eks:DescribeCluster",)
    api_kinds = (("karpenter.k8s.aws/v1", "EC2NodeClass"),)
    immutable = ()

    def settle(self, ctx: RunContext, have: Live) -> Live:
        return wait_ready(ctx, self, have)

    @classmethod
    def wait_deleted(cls, ctx: RunContext, api: Any, have: Live) -> None:
        # Karpenter's finalizer removes the instance profiles it made, then lets it go.
        name = have.outputs.get("name")

        def state() -> str | None:
            obj = call(
                have.key, f"reading EC2NodeClass {name}", kube.get, api, "karpenter.k8s.aws/v1", "EC2NodeClass", name
            )
            refused = cleanup_refused(obj)
            if refused:
                # Waiting is pointless: the controller retries the same refused call until the
                # role's policy allows it (on AWS: `iam:ListInstanceProfiles` missing made destroy
                # wait out the whole timeout).
                raise PermanentError(
                    f"EC2NodeClass {name} cannot be deleted: Karpenter's controller was refused an AWS call its "
                    f"finalizer makes: {refused}",
                    key=have.key,
                    code="AccessDenied",
                    hint="the controller role's policies (karpenter/controller-role) must allow it; `apply` restores "
                    "the tool's policy, then run destroy again",
                )
            if obj is not None and not controller_running(ctx, api, have.key):
                ctx.progress(
                    have.key,
                    f"Karpenter's controller is not running: EC2NodeClass {name} keeps its finalizer "
                    "and goes with the cluster; the sweep removes its instance profiles",
                )
                return None
            return None if obj is None else "terminating"

        wait_for(
            ctx,
            key=have.key,
            what=f"EC2NodeClass {name} deletion",
            read_state=state,
            done={None},  # type: ignore[arg-type]
            timeout=NODECLASS_DELETE_TIMEOUT,
        )


def cleanup_refused(obj: dict[str, Any] | None) -> str | None:
    """The message of a terminating EC2NodeClass whose controller reports an AWS call of its
    finalizer as refused (a condition with reason `AccessDenied`, the AWS error code), else None.
    The sandbox's emulated controller reports it so; the real v1.14.1 controller only logs it."""
    if obj is None or not (obj.get("metadata") or {}).get("deletionTimestamp"):
        return None
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("reason") == "AccessDenied" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("type"))
    return None


@dataclass(kw_only=True)
class NodePool(KubeObject):
    type = "k8s:nodepool"
    iam_actions = ("eks:DescribeCluster",)
    api_kinds = (("karpenter.sh/v1", "NodePool"),)
    immutable = ("spec.template.spec.nodeClassRef.group", "spec.template.spec.nodeClassRef.kind")

    def settle(self, ctx: RunContext, have: Live) -> Live:
        return wait_ready(ctx, self, have)

    @classmethod
    def wait_deleted(cls, ctx: RunContext, api: Any, have: Live) -> None:
        """Until Karpenter has drained and terminated the pool's nodes (its NodeClaims, labelled
        `karpenter.sh/nodepool=<pool>`, are gone) and the NodePool itself is gone."""
        name = have.outputs.get("name")

        def state() -> str | None:
            claims = call(
                have.key,
                "listing NodeClaims",
                kube.list_objects,
                api,
                "karpenter.sh/v1",
                "NodeClaim",
                None,
                f"karpenter.sh/nodepool={name}",
            )
            pool = call(have.key, f"reading NodePool {name}", kube.get, api, "karpenter.sh/v1", "NodePool", name)
            if (claims or pool) and not controller_running(ctx, api, have.key):
                # Nobody will drain them: a destroy must not wait for ever. The sweep after
                # the NodePools (cleanup/karpenter-instances) terminates their instances, and
                # the objects go with the cluster.
                ctx.progress(
                    have.key,
                    f"Karpenter's controller is not running: not waiting for NodePool {name} and "
                    f"its {len(claims)} NodeClaim(s); their instances are terminated by the sweep",
                )
                return None
            if claims:
                return f"{len(claims)} NodeClaim(s) terminating"
            return None if pool is None else "NodePool terminating"

        wait_for(
            ctx,
            key=have.key,
            what=f"NodePool {name} and its nodes",
            read_state=state,
            done={None},  # type: ignore[arg-type]
            timeout=NODEPOOL_DELETE_TIMEOUT,
        )


# --- the graph ------------------------------------------------------------------------------


def crd_name_of(file: str) -> str:
    """controller-gen names files `<group>_<plural>.yaml` for the CRD `<plural>.<group>`."""
    group, plural = file.removesuffix(".yaml").split("_", 1)
    return f"{plural}.{group}"


def inputs_for(plan: Plan, region: str, endpoint: Any = None) -> Inputs:
    """The manifests' inputs. The queue and node role names are the AWS-side nodes' own
    (deterministic) names; `endpoint` is a `Ref`, a URL, or None (left out)."""
    from provisioner.steps import karpenter as aws_side

    spec = plan.spec
    assert isinstance(spec, EnvironmentPlan)
    names = {node.key: getattr(node, "name", None) for node in aws_side.aws_resources(plan, region)}
    return Inputs(
        plan=plan.name,
        region=region,
        cluster_name=cluster_name(plan.name),
        cluster_endpoint=endpoint,
        queue_name=names[aws_side.QUEUE],
        node_role_name=names[aws_side.NODE_ROLE],
        namespace=aws_side.NAMESPACE,
        service_account=aws_side.SERVICE_ACCOUNT,
        version=spec.karpenter.version,
        ami_alias=spec.karpenter.ami_alias,
        root_volume_gib=spec.karpenter.root_volume_gib,
        node_pools=tuple(spec.karpenter.node_pools),
        tags=dict(spec.tags),
    )


def resources(plan: Plan, region: str) -> list[Resource]:
    """The in-cluster nodes of an environment plan (see the module docstring's graph)."""
    from provisioner.steps import karpenter as aws_side

    inputs = inputs_for(plan, region, endpoint=Ref(CLUSTER, "endpoint"))
    api = (CLUSTER, TOOL_ACCESS)
    crd_nodes = {
        crd_name_of(file): CustomResourceDefinition(
            key=crd_key(crd_name_of(file)),
            depends_on=api,
            version=inputs.version,
            file=file,
            crd_name=crd_name_of(file),
        )
        for file in crds.crd_files(inputs.version)
    }
    nodes: list[Resource] = list(crd_nodes.values())
    controller_keys = []
    for key, manifest in manifests.controller_objects(inputs):
        if manifest["kind"] == "Deployment":
            continue
        nodes.append(KubeObject(key=key, depends_on=api, manifest=manifest))
        if manifest["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            controller_keys.append(key)  # what the pods need to start; not the PDB or Service
    (deployment,) = [m for k, m in manifests.controller_objects(inputs) if k == DEPLOYMENT_KEY]
    nodes.append(
        Deployment(
            key=DEPLOYMENT_KEY,
            manifest=deployment,
            depends_on=(
                *api,
                *(n.key for n in crd_nodes.values()),
                *controller_keys,
                POD_IDENTITY,
                NODEGROUP,
                COREDNS,
                aws_side.QUEUE,
            ),
        )
    )
    for key, manifest in manifests.node_objects(inputs):
        if manifest["kind"] == "EC2NodeClass":
            nodes.append(
                EC2NodeClass(
                    key=key,
                    manifest=manifest,
                    depends_on=(
                        *api,
                        crd_key("ec2nodeclasses.karpenter.k8s.aws"),
                        DEPLOYMENT_KEY,
                        aws_side.NODE_ROLE,
                        NODE_ACCESS_ENTRY,
                    ),
                )
            )
        else:
            nodes.append(
                NodePool(
                    key=key,
                    manifest=manifest,
                    depends_on=(*api, crd_key("nodepools.karpenter.sh"), DEPLOYMENT_KEY, NODE_CLASS_KEY),
                )
            )
    return nodes


# --- `manifests ENV` ------------------------------------------------------------------------


def render_manifests(plan: Plan, region: str, endpoint: str | None = None, live: bool = True) -> str:
    """What `manifests ENV` prints (no AWS call). Pass the cluster's endpoint when it exists
    (`cluster_endpoint`); without it CLUSTER_ENDPOINT is left out (see manifests.py). `live`:
    whether AWS was asked (else the endpoint is only unknown, not missing)."""
    return manifests.render(inputs_for(plan, region, endpoint), live=live)


def cluster_endpoint(session: Any, plan: Plan) -> str | None:
    """The plan's cluster endpoint from DescribeCluster, or None when the cluster does not
    exist (one call; for `manifests ENV`)."""
    from provisioner.aws.errors import ClientError, is_not_found

    try:
        cluster = session.client("eks").describe_cluster(name=cluster_name(plan.name))["cluster"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return cluster.get("endpoint") or None
