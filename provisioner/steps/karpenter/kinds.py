"""Karpenter's in-cluster kinds: its CRDs, its controller's Deployment, EC2NodeClass and
NodePool, each a `k8s:object` (steps/k8s/objects.py) with what Karpenter adds: CRDs verified
against the pinned files, waits for the rollout and for `Ready`, and deletions that wait for
Karpenter's finalizers (see cluster.py's docstring for the graph and the order).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from provisioner.aws.waiters import wait_for
from provisioner.engine import Live, PermanentError, Refs, RunContext, TemporaryError
from provisioner.kube import client as kube
from provisioner.kube.objects import mark, object_id, other_managers, project
from provisioner.steps.k8s.connection import api_for, call, require_api
from provisioner.steps.k8s.objects import KubeObject, delete_if_ours
from provisioner.steps.karpenter import crds, manifests
from provisioner.steps.karpenter.aws_side import NAMESPACE

ANNOTATION_VERSION = "provisioner.innovate.io/karpenter-version"
ANNOTATION_SOURCE = "provisioner.innovate.io/source-sha256"

DEPLOYMENT_TIMEOUT = 600.0  # latency-model.md: controller ready p95 180 s
CRD_ESTABLISHED_TIMEOUT = 120.0
NODEPOOL_DELETE_TIMEOUT = 1800.0  # nodes drain, then instances terminate
NODECLASS_DELETE_TIMEOUT = 600.0
READY_TIMEOUT = 300.0  # Karpenter resolves a class's subnets, groups and AMI within a minute
NODECLAIM_CRD_RETRY_SECONDS = 10.0


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

    def observed(self, ctx: RunContext, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            upstream = self.upstream(ctx)["spec"]
        except crds.CrdDigestError:
            raise
        except PermanentError:
            upstream = None  # the pinned files cannot be had: the spec is not verified
        return self.observe({"object": obj, "upstream": upstream})

    @classmethod
    def observe(cls, item: dict[str, Any]) -> dict[str, Any]:
        """`item`: the CRD as the API server returns it (`object`) and the pinned file's spec
        (`upstream`), None when the files cannot be had."""
        obj, upstream = item["object"], item["upstream"]
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if upstream is None:
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
            done={None},
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
            done={None},
            timeout=NODEPOOL_DELETE_TIMEOUT,
        )


# --- the graph ------------------------------------------------------------------------------


def crd_name_of(file: str) -> str:
    """controller-gen names files `<group>_<plural>.yaml` for the CRD `<plural>.<group>`."""
    group, plural = file.removesuffix(".yaml").split("_", 1)
    return f"{plural}.{group}"
