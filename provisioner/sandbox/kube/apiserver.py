"""One emulated cluster's Kubernetes API: in-memory objects and the REST semantics.

`ClusterApi.handle(method, path, query, headers, body)` answers one request; the HTTPS
server in `provisioner.sandbox.kube_emulator` only moves bytes. All state is behind one lock
per cluster, so requests from many threads see a single order of writes, and every write gets
the next `resourceVersion`, as etcd's revision gives a real server.

Emulated, as a real API server (1.32) does it:
- verbs: get, list (label and `metadata.name`/`metadata.namespace` field selectors,
  limit/continue), watch (from a resourceVersion, 410 Gone when too old, timeoutSeconds),
  create (201, generateName), replace (PUT, optimistic concurrency on resourceVersion),
  patch (merge, JSON patch, strategic merge approximated, server-side apply with
  fieldManager/force, creating when absent with 201), delete (finalizers: deletionTimestamp
  first, gone once the last finalizer is removed), deletecollection; `dryRun=All`; status
  subresources; no-op writes keep the resourceVersion;
- metadata: uid, resourceVersion, generation (bumped when anything but metadata/status
  changes), creationTimestamp, managedFields; name and label syntax checks (422);
- namespaces: `default`, `kube-system`, `kube-public`, `kube-node-lease` exist; namespaced
  writes need an existing namespace (404); deleting one removes its objects at once (no
  lingering Terminating phase); the immortal ones cannot be deleted (403); each gets a
  `default` ServiceAccount;
- CRDs: name/group/scope/versions checks (422), Established at once, their resources appear
  in discovery and disappear (with their objects) when the CRD is deleted; custom objects
  are pruned, defaulted and validated against the version's schema (see `schema`), and
  `fieldValidation=Strict` refuses unknown fields; kinds without a CRD are 404;
- Deployments: defaults, and a rollout that reports `availableReplicas == replicas` and
  condition Available=True once `rollout_seconds()` have passed (at once when 0);
- errors are `Status` objects with the real reasons: 400 BadRequest, 401 Unauthorized,
  403 Forbidden, 404 NotFound, 405 MethodNotAllowed, 409 AlreadyExists/Conflict, 410 Expired,
  415 UnsupportedMediaType, 422 Invalid.

Not emulated: controllers (no pods, ReplicaSets, endpoints, garbage collection by owner
references, node registration), admission webhooks, RBAC authorization (every authenticated
caller may do everything), aggregated discovery and OpenAPI documents (kubectl needs
`--validate=false` to create or apply), Table output (kubectl prints its default columns),
protobuf, version conversion beyond relabelling apiVersion, CEL validation rules.

Layout: `ClusterApi` is built from layers, one module each, every layer using only those
below it: `store` (objects, events, errors), `karpenter`, `crds`, `admission` (per-kind rules,
rollouts), `writes`, `patches` (merge, JSON, strategic and server-side apply), `watch` (list
and watch), and this module (routing, discovery, seeding). `objects` holds the vocabulary
they share.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any

from provisioner.sandbox.kube import resources
from provisioner.sandbox.kube.objects import (
    INITIAL_NAMESPACES,
    PUBLIC_PATHS,
    WATCH_HISTORY,
    ApiError,
    Authenticator,
    Response,
    Stored,
    decode_json,
    manager_from_user_agent,
    status_body,
)
from provisioner.sandbox.kube.resources import ResourceType
from provisioner.sandbox.kube.watch import WatchLayer

log = logging.getLogger(__name__)


class ClusterApi(WatchLayer):
    """One cluster's API: routing of requests to the layers (see `store`) and the initial state."""

    def __init__(
        self,
        cluster_name: str,
        *,
        authenticate: Authenticator,
        server_address: str = "127.0.0.1:443",
        kubernetes_version: str = "1.32",
        rollout_seconds: Callable[[], float] = lambda: 0.0,
        clock: Callable[[], float] = time.time,
    ):
        self.cluster_name = cluster_name
        self.server_address = server_address
        self.kubernetes_version = kubernetes_version
        self._authenticate = authenticate
        self._rollout_seconds = rollout_seconds
        self._clock = clock
        # The emulated Karpenter controller (sandbox/karpenter_controller.py), set by the
        # emulator that knows the cluster's account and region; None: Karpenter only marks
        # its objects Ready (kube-only use, tests).
        self.karpenter: Any = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopped = False
        self._rv = 0
        self._ip = 0
        # (group, version, plural) -> type; built-ins first, CRDs added as they come.
        self._types: dict[tuple[str, str, str], ResourceType] = {
            (t.group, t.version, t.plural): t for t in resources.BUILTIN
        }
        # (group, plural) -> {(namespace or "", name): stored}
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Stored]] = {}
        # (resourceVersion, storage key, event type, object snapshot)
        self._events: deque[tuple[int, tuple[str, str], str, dict[str, Any]]] = deque(maxlen=WATCH_HISTORY)
        with self._lock:
            self._seed()

    def contents(self) -> dict[str, Any]:
        """Everything the API holds (types, objects, watch history, counters), for a sandbox
        snapshot (sandbox/snapshot.py). Live references: the caller copies them."""
        with self._lock:
            return {
                "rv": self._rv,
                "ip": self._ip,
                "types": self._types,
                "objects": self._objects,
                "events": self._events,
            }

    def load_contents(self, contents: dict[str, Any]) -> None:
        """Hold `contents` (a copy that `contents()` gave) instead of what this API holds."""
        with self._changed:
            self._rv, self._ip = contents["rv"], contents["ip"]
            self._types, self._objects = contents["types"], contents["objects"]
            self._events = deque(contents["events"], maxlen=WATCH_HISTORY)
            self._changed.notify_all()

    def stop(self) -> None:
        """End every watch stream (the server is going away)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _seed(self) -> None:
        ns_type = self._type("", "v1", "namespaces")
        for name in INITIAL_NAMESPACES:
            self._create(ns_type, None, {"metadata": {"name": name}}, {}, manager="kube-apiserver")
        svc_type = self._type("", "v1", "services")
        self._create(
            svc_type,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                },
            },
            {},
            manager="kube-apiserver",
        )

    def sync_nodes(self, nodes: list[dict[str, Any]], label: str = "eks.amazonaws.com/nodegroup") -> None:
        """Make the Nodes carrying `label` exactly `nodes` (what kubelets joining and the node
        lifecycle controller removing terminated instances do): new ones are registered with
        their status, changed labels, taints or status are updated, the others are deleted.
        Nodes without the label (Karpenter's, anyone's) are left alone."""
        rtype = self._type("", "v1", "nodes")
        with self._lock:
            bucket = self._bucket(rtype)
            wanted = {n["metadata"]["name"]: n for n in nodes}
            for (_, name), old in list(bucket.items()):
                if label in (old.obj["metadata"].get("labels") or {}) and name not in wanted:
                    self._remove(rtype, old)
            for name, node in wanted.items():
                stored = bucket.get(("", name))
                if stored is None:
                    self._create(rtype, None, node, {}, manager="kubelet")
                    stored = bucket[("", name)]
                elif all(stored.obj.get(k) == node.get(k) for k in ("spec", "status")) and stored.obj["metadata"].get(
                    "labels"
                ) == node["metadata"].get("labels"):
                    continue
                stored.obj["metadata"]["labels"] = dict(node["metadata"].get("labels") or {})
                stored.obj["spec"] = dict(node.get("spec") or {})
                stored.obj["status"] = dict(node.get("status") or {})
                self._commit(rtype, stored, "MODIFIED")

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        """Answer one request. `headers` have lower-case names."""
        method = method.upper()
        path = "/" + path.strip("/") if path != "/" else "/"
        try:
            if path not in PUBLIC_PATHS:
                self._check_auth(headers.get("authorization", ""))
            with self._lock:
                self._advance()
                return self._route(method, path, query, headers, body)
        except ApiError as err:
            return Response(err.code, status_body(err.code, err.reason, err.message, err.details))

    def _check_auth(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Unauthorized", "Unauthorized")
        try:
            self._authenticate(token.strip())
        except Exception as exc:  # the authenticator's reason goes to the log, not the client
            log.info("cluster %s: refused a bearer token: %s", self.cluster_name, exc)
            raise ApiError(401, "Unauthorized", "Unauthorized") from None

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", content_type="text/plain")
        if path == "/version":
            return Response(200, self._version())
        if path == "/":
            return Response(200, {"paths": sorted(self._root_paths())})
        parts = [urllib.parse.unquote(part) for part in path.strip("/").split("/")]
        if parts[0] == "api":
            if len(parts) == 1:
                return Response(200, resources.api_versions(self.server_address))
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return Response(200, resources.api_group_list(list(self._types.values())))
            group = parts[1]
            if len(parts) == 2:
                versions = resources.group_versions(list(self._types.values())).get(group)
                if not versions:
                    raise self._not_found_path()
                return Response(200, resources.api_group(group, versions))
            version, rest = parts[2], parts[3:]
        else:
            raise self._not_found_path()

        types = [t for t in self._types.values() if t.group == group and t.version == version]
        if not types:
            raise self._not_found_path()
        if not rest:
            if method != "GET":
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            return Response(200, resources.api_resource_list(types[0].group_version, types))

        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], rest[1] if len(rest) > 1 else None
        subresource = "/".join(rest[2:]) or None
        rtype = self._types.get((group, version, plural))
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise self._not_found_path()
        if subresource is not None and subresource not in rtype.subresources:
            raise self._not_found_path()
        return self._dispatch(method, rtype, namespace, name, subresource, query, headers, body)

    def _dispatch(
        self,
        method: str,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method in ("POST", "PUT") and body and content_type not in ("", "application/json", "*/*"):
            # Only JSON bodies: no protobuf, CBOR or YAML for creates and replaces.
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown "
                f"format - accepted media types include: application/json (got {content_type})",
            )
        watching = query.get("watch") in ("true", "1")
        manager = query.get("fieldManager") or manager_from_user_agent(headers.get("user-agent", ""))
        if name is None:
            if method == "GET":
                if watching:
                    return self._watch(rtype, namespace, None, query)
                return Response(200, self._list(rtype, namespace, query))
            if method == "POST":
                if rtype.namespaced and namespace is None:
                    raise self._not_found_path()
                obj = decode_json(body)
                code, result, warnings = self._create(rtype, namespace, obj, query, manager=manager)
                return Response(code, result, headers=warnings)
            if method == "DELETE":
                return Response(200, self._delete_collection(rtype, namespace, query))
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )

        if rtype.namespaced and namespace is None:
            raise self._not_found_path()
        if method == "GET":
            if watching:
                return self._watch(rtype, namespace, name, query)
            return Response(200, self._render(rtype, self._get(rtype, namespace, name)))
        if method == "PUT":
            obj = decode_json(body)
            code, result, warnings = self._replace(rtype, namespace, name, obj, query, manager, subresource)
            return Response(code, result, headers=warnings)
        if method == "PATCH":
            code, result, warnings = self._patch(
                rtype,
                namespace,
                name,
                content_type,
                body,
                query,
                manager,
                subresource,
                query.get("fieldManager"),
            )
            return Response(code, result, headers=warnings)
        if method == "DELETE" and subresource is None:
            return Response(200, self._delete(rtype, namespace, name, query))
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _version(self) -> dict[str, Any]:
        major, minor = (self.kubernetes_version.split(".") + ["0"])[:2]
        return {
            "major": major,
            "minor": minor,
            "gitVersion": f"v{major}.{minor}.0-eks-sandbox",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _root_paths(self) -> set[str]:
        paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/livez", "/readyz"}
        for rtype in self._types.values():
            if rtype.group:
                paths.add(f"/apis/{rtype.group}")
                paths.add(f"/apis/{rtype.group}/{rtype.version}")
        return paths
