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
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from provisioner.sandbox.kube import patching, resources, schema
from provisioner.sandbox.kube.resources import ResourceType

log = logging.getLogger(__name__)

Authenticator = Callable[[str], None]  # raises on a bad token

PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
WATCH_HISTORY = 2000
DEFAULT_WATCH_TIMEOUT = 1800.0

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details


@dataclass
class Response:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"


@dataclass
class _Manager:
    paths: set[tuple[str, ...]]
    api_version: str
    time: str


@dataclass
class _Stored:
    obj: dict[str, Any]
    managers: dict[tuple[str, str, str], _Manager] = field(default_factory=dict)
    rollout_ready_at: float | None = None


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    if code < 400:
        body.pop("message")
        body.pop("reason")
    return body


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterApi:
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
        self._objects: dict[tuple[str, str], dict[tuple[str, str], _Stored]] = {}
        # (resourceVersion, storage key, event type, object snapshot)
        self._events: deque[tuple[int, tuple[str, str], str, dict[str, Any]]] = deque(maxlen=WATCH_HISTORY)
        with self._lock:
            self._seed()

    # --- lifecycle -----------------------------------------------------------------------

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

    # --- what the cloud side does ------------------------------------------------------------

    def sync_nodes(self, nodes: list[dict[str, Any]], label: str = "eks.amazonaws.com/nodegroup") -> None:
        """Make the Nodes carrying `label` exactly `nodes` (what kubelets joining and the node
        lifecycle controller removing terminated instances do): new ones are registered with
        their status, changed labels, taints or status are updated, the others are deleted.
        Nodes without the label (Karpenter's, anyone's) are left alone."""
        rtype = self._type("", "v1", "nodes")
        with self._lock:
            bucket = self._bucket(rtype)
            wanted = {n["metadata"]["name"]: n for n in nodes}
            for (_, name), stored in list(bucket.items()):
                if label in (stored.obj["metadata"].get("labels") or {}) and name not in wanted:
                    self._remove(rtype, stored)
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

    # --- entry point ---------------------------------------------------------------------

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
        manager = query.get("fieldManager") or _manager_from_user_agent(headers.get("user-agent", ""))
        if name is None:
            if method == "GET":
                if watching:
                    return self._watch(rtype, namespace, None, query)
                return Response(200, self._list(rtype, namespace, query))
            if method == "POST":
                if rtype.namespaced and namespace is None:
                    raise self._not_found_path()
                obj = _decode_json(body)
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
            obj = _decode_json(body)
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

    # --- reads ---------------------------------------------------------------------------

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

    def _get(self, rtype: ResourceType, namespace: str | None, name: str) -> _Stored:
        stored = self._bucket(rtype).get((namespace or "", name))
        if stored is None:
            raise self._not_found(rtype, name)
        return stored

    def _list(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        items = self._select(rtype, namespace, None, query)
        limit = _int(query.get("limit"), 0)
        start = _decode_continue(query.get("continue"))
        if start is not None:
            items = [(key, s) for key, s in items if key > start]
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if limit > 0 and len(items) > limit:
            last_key = items[limit - 1][0]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(list(last_key)).encode()).decode()
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.group_version,
            "metadata": metadata,
            "items": [self._render(rtype, stored) for _, stored in items],
        }

    def _select(
        self, rtype: ResourceType, namespace: str | None, name: str | None, query: dict[str, str]
    ) -> list[tuple[tuple[str, str], _Stored]]:
        labels = _selector(query.get("labelSelector", ""))
        fields = _field_selector(query.get("fieldSelector", ""))
        result = []
        for key, stored in sorted(self._bucket(rtype).items()):
            if self._matches(stored.obj, namespace, name, labels, fields):
                result.append((key, stored))
        return result

    @staticmethod
    def _matches(
        obj: dict[str, Any],
        namespace: str | None,
        name: str | None,
        labels: list[tuple[str, str, list[str]]],
        fields: list[tuple[str, str, str]],
    ) -> bool:
        meta = obj.get("metadata", {})
        if namespace is not None and meta.get("namespace") != namespace:
            return False
        if name is not None and meta.get("name") != name:
            return False
        values = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": meta.get("namespace", ""),
        }
        for key, op, value in fields:
            if (values[key] == value) != (op == "="):
                return False
        return patching.selector_matches(labels, meta.get("labels") or {})

    def _render(self, rtype: ResourceType, stored: _Stored) -> dict[str, Any]:
        obj = copy.deepcopy(stored.obj)
        obj["apiVersion"] = rtype.group_version
        obj["kind"] = rtype.kind
        if stored.managers:
            obj["metadata"]["managedFields"] = [
                {
                    "manager": manager,
                    "operation": operation,
                    "apiVersion": entry.api_version,
                    "time": entry.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": patching.fields_v1(entry.paths),
                    **({"subresource": sub} if sub else {}),
                }
                for (manager, operation, sub), entry in sorted(stored.managers.items())
            ]
        return obj

    # --- watch ---------------------------------------------------------------------------

    def _watch(self, rtype: ResourceType, namespace: str | None, name: str | None, query: dict[str, str]) -> Response:
        labels = _selector(query.get("labelSelector", ""))
        fields = _field_selector(query.get("fieldSelector", ""))
        timeout = float(_int(query.get("timeoutSeconds"), 0)) or DEFAULT_WATCH_TIMEOUT
        since = query.get("resourceVersion", "")
        initial: list[dict[str, Any]] = []
        if since in ("", "0"):
            # No resourceVersion: the current state as synthetic ADDED events, then changes.
            for _, stored in self._select(rtype, namespace, name, query):
                initial.append({"type": "ADDED", "object": self._render(rtype, stored)})
            cursor = self._rv
        else:
            cursor = _int(since, -1)
            oldest = self._events[0][0] if self._events else self._rv + 1
            if cursor < 0 or (cursor < oldest - 1 and cursor < self._rv):
                gone = status_body(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
                return Response(200, stream=iter([_line({"type": "ERROR", "object": gone})]))
        deadline = self._clock() + timeout
        return Response(
            200,
            stream=self._stream(rtype, namespace, name, labels, fields, initial, cursor, deadline),
        )

    def _stream(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        labels: list[tuple[str, str, list[str]]],
        fields: list[tuple[str, str, str]],
        initial: list[dict[str, Any]],
        cursor: int,
        deadline: float,
    ) -> Iterator[bytes]:
        for event in initial:
            yield _line(event)
        while True:
            with self._changed:
                batch: list[dict[str, Any]] = []
                while not batch:
                    if self._stopped:
                        return
                    self._advance()
                    for rv, key, kind, obj in self._events:
                        if rv > cursor:
                            cursor = rv
                            if key == rtype.storage_key and self._matches(obj, namespace, name, labels, fields):
                                shown = copy.deepcopy(obj)
                                shown["apiVersion"], shown["kind"] = rtype.group_version, rtype.kind
                                batch.append({"type": kind, "object": shown})
                    if batch:
                        break
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return
                    pending = [
                        s.rollout_ready_at
                        for b in self._objects.values()
                        for s in b.values()
                        if s.rollout_ready_at is not None
                    ]
                    wait = min([remaining, 5.0] + [max(0.0, t - self._clock()) + 0.01 for t in pending])
                    self._changed.wait(wait)
            for event in batch:
                yield _line(event)

    # --- writes --------------------------------------------------------------------------

    def _create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        query: dict[str, str],
        *,
        manager: str,
        operation: str = "Update",
        apply_paths: set[tuple[str, ...]] | None = None,
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        self._check_type_fields(rtype, obj)
        if not meta.get("name") and meta.get("generateName"):
            bucket = self._bucket(rtype)
            while True:
                candidate = meta["generateName"] + "".join(random.choices(_GENERATE_CHARS, k=5))
                if ((namespace or "", candidate)) not in bucket:
                    meta["name"] = candidate
                    break
        name = meta.get("name")
        if not name:
            raise self._invalid(
                rtype,
                "",
                [
                    (
                        "metadata.name",
                        "FieldValueRequired",
                        "metadata.name: Required value: name or generateName is required",
                    )
                ],
            )
        self._check_namespace(rtype, namespace, meta)
        if (namespace or "", name) in self._bucket(rtype):
            raise ApiError(
                409,
                "AlreadyExists",
                f'{self._resource_name(rtype)} "{name}" already exists',
                self._details(rtype, name),
            )
        now = self._clock()
        for server_field in (
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
        ):
            meta.pop(server_field, None)
        if "status" in rtype.subresources:
            obj.pop("status", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _timestamp(now)
        meta["generation"] = 1
        stored = _Stored(obj)
        paths = apply_paths if apply_paths is not None else set(patching.leaves(obj))
        stored.managers[(manager, operation, "")] = _Manager(paths, rtype.group_version, _timestamp(now))
        warnings = self._admit(rtype, stored, None, query)
        if query.get("dryRun") != "All":
            self._commit(rtype, stored, "ADDED")
            self._after_create(rtype, stored)
        return 201, self._render(rtype, stored), warnings

    def _replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        query: dict[str, str],
        manager: str,
        subresource: str | None,
    ):
        existing = self._get(rtype, namespace, name)
        self._check_type_fields(rtype, obj)
        meta = obj.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        return self._update(rtype, existing, obj, query, manager, "Update", subresource)

    def _patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: bytes,
        query: dict[str, str],
        manager: str,
        subresource: str | None,
        explicit_manager: str | None,
    ):
        key = (namespace or "", name)
        existing = self._bucket(rtype).get(key)
        if content_type == APPLY_PATCH:
            return self._apply(rtype, namespace, name, existing, body, query, explicit_manager, subresource)
        if existing is None:
            raise self._not_found(rtype, name)
        current = self._render(rtype, existing)
        current["metadata"].pop("managedFields", None)
        if content_type == MERGE_PATCH:
            patched = patching.merge_patch(current, _decode_json(body))
        elif content_type == STRATEGIC_PATCH:
            if rtype.custom:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown "
                    "format - accepted media types include: application/json-patch+json, "
                    "application/merge-patch+json, application/apply-patch+yaml",
                )
            patched = patching.merge_patch(current, _decode_json(body))
        elif content_type == JSON_PATCH:
            try:
                patched = patching.json_patch(current, _decode_json(body, allow_list=True))
            except patching.PatchError as exc:
                raise ApiError(422, "Invalid", str(exc)) from None
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - content type {content_type!r}",
            )
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patch result is not an object")
        wanted_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        return self._update(rtype, existing, patched, query, manager, "Update", subresource)

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        existing: _Stored | None,
        body: bytes,
        query: dict[str, str],
        manager: str | None,
        subresource: str | None,
    ):
        # Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager")
        try:
            config = _load_apply_body(body)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
        if not isinstance(config, dict):
            raise ApiError(400, "BadRequest", "the apply configuration must be an object")
        if not config.get("apiVersion") or not config.get("kind"):
            raise ApiError(400, "BadRequest", "invalid object type: apiVersion and kind are required")
        self._check_type_fields(rtype, config)
        meta = config.setdefault("metadata", {})
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        meta["name"] = name
        force = query.get("force") in ("true", "1")
        config_leaves = patching.leaves(config)
        owner_key = (manager, "Apply", subresource or "")
        if existing is None:
            if subresource:
                raise self._not_found(rtype, name)
            return self._create(
                rtype,
                namespace,
                config,
                query,
                manager=manager,
                operation="Apply",
                apply_paths=set(config_leaves),
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != existing.obj["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)

        current = existing.obj
        managers = copy.deepcopy(existing.managers)
        conflicts: list[tuple[str, tuple[str, ...]]] = []
        for other, entry in managers.items():
            if other == owner_key:
                continue
            for path in entry.paths & set(config_leaves):
                found, value = patching.get_path(current, path)
                if found and value != config_leaves[path]:
                    conflicts.append((other[0], path))
        if conflicts and not force:
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{who}": .{".".join(path)}',
                    "field": "." + ".".join(path),
                }
                for who, path in conflicts
            ]
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(conflicts)} conflict"
                f"{'s' if len(conflicts) > 1 else ''}: " + "; ".join(c["message"] for c in causes),
                {**self._details(rtype, name), "causes": causes},
            )
        for who, path in conflicts:  # forced: the applier takes them over
            for other, entry in managers.items():
                if other[0] == who:
                    entry.paths.discard(path)
        previous = managers.get(owner_key)
        merged = copy.deepcopy(current)
        if previous is not None:
            still_owned = set().union(*(e.paths for k, e in managers.items() if k != owner_key))
            for path in previous.paths - set(config_leaves) - still_owned:
                patching.delete_path(merged, path)
        merged = patching.deep_merge(merged, config)
        managers[owner_key] = _Manager(set(config_leaves), rtype.group_version, _timestamp(self._clock()))
        return self._update(rtype, existing, merged, query, manager, "Apply", subresource, managers=managers)

    def _update(
        self,
        rtype: ResourceType,
        existing: _Stored,
        new_obj: dict[str, Any],
        query: dict[str, str],
        manager: str,
        operation: str,
        subresource: str | None,
        managers: dict[tuple[str, str, str], _Manager] | None = None,
    ):
        old = existing.obj
        new_obj = copy.deepcopy(new_obj)
        meta = new_obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        for keep in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "resourceVersion",
            "namespace",
        ):
            if keep in old["metadata"]:
                meta[keep] = old["metadata"][keep]
            else:
                meta.pop(keep, None)
        meta.pop("managedFields", None)
        meta["name"] = old["metadata"]["name"]
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new_obj:
                merged["status"] = new_obj["status"]
            else:
                merged.pop("status", None)
            new_obj = merged
        elif "status" in rtype.subresources:
            if "status" in old:
                new_obj["status"] = copy.deepcopy(old["status"])
            else:
                new_obj.pop("status", None)
        if old["metadata"].get("deletionTimestamp"):
            # Once deletion started, finalizers may only be removed, never added.
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Forbidden",
                    f'{self._resource_name(rtype)} "{meta["name"]}" is invalid: '
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the "
                    "object is being deleted",
                )

        candidate = _Stored(
            new_obj,
            managers if managers is not None else copy.deepcopy(existing.managers),
            existing.rollout_ready_at,
        )
        warnings = self._admit(rtype, candidate, existing, query)
        if _spec_of(candidate.obj) != _spec_of(old):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            candidate.obj["metadata"]["generation"] = meta["generation"]
            self._admit_generation_change(rtype, candidate)
        if managers is None:
            self._track_update(candidate, old, manager, operation, subresource or "", rtype)
        if _same(candidate, existing):
            return 200, self._render(rtype, existing), warnings
        if query.get("dryRun") == "All":
            return 200, self._render(rtype, candidate), warnings
        existing.obj, existing.managers = candidate.obj, candidate.managers
        existing.rollout_ready_at = candidate.rollout_ready_at
        meta_now = existing.obj["metadata"]
        if meta_now.get("deletionTimestamp") and not meta_now.get("finalizers"):
            self._remove(rtype, existing)  # the last finalizer is gone: deletion completes
            return 200, self._render(rtype, existing), warnings
        self._commit(rtype, existing, "MODIFIED")
        self._after_update(rtype, existing)
        return 200, self._render(rtype, existing), warnings

    def _track_update(
        self,
        stored: _Stored,
        old: dict[str, Any],
        manager: str,
        operation: str,
        subresource: str,
        rtype: ResourceType,
    ) -> None:
        new_leaves = patching.leaves(stored.obj)
        old_leaves = patching.leaves(old)
        changed = {p for p, v in new_leaves.items() if old_leaves.get(p, _MISSING) != v}
        removed = set(old_leaves) - set(new_leaves)
        for key, entry in list(stored.managers.items()):
            entry.paths -= changed | removed
            if not entry.paths:
                del stored.managers[key]
        if changed:
            key = (manager, operation, subresource)
            entry = stored.managers.get(key)
            if entry is None:
                entry = stored.managers[key] = _Manager(set(), rtype.group_version, "")
            entry.paths |= changed
            entry.time = _timestamp(self._clock())

    def _delete(self, rtype: ResourceType, namespace: str | None, name: str, query: dict[str, str]) -> dict[str, Any]:
        stored = self._get(rtype, namespace, name)
        if rtype.kind == "Namespace" and name in IMMORTAL_NAMESPACES:
            raise ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                self._details(rtype, name),
            )
        if query.get("dryRun") == "All":
            return self._render(rtype, stored)
        meta = stored.obj["metadata"]
        if meta.get("finalizers") and rtype.kind != "Namespace":
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = _timestamp(self._clock())
                meta["deletionGracePeriodSeconds"] = 0
                self._commit(rtype, stored, "MODIFIED")
                if rtype.custom and rtype.kind == "EC2NodeClass":
                    self._run_karpenter_controller()  # the controller sees the deletion at once
            return self._render(rtype, stored)
        if rtype.kind == "Namespace":
            self._purge_namespace(name)
            meta["deletionTimestamp"] = _timestamp(self._clock())
            stored.obj.setdefault("status", {})["phase"] = "Terminating"
        if rtype.kind == "CustomResourceDefinition":
            self._unregister_crd(stored.obj)
        self._remove(rtype, stored)
        if rtype.custom or rtype.kind == "Namespace":
            return self._render(rtype, stored)
        return status_body(200, "", "", {**self._details(rtype, name), "uid": meta.get("uid")})

    def _delete_collection(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        for _, stored in self._select(rtype, namespace, None, query):
            meta = stored.obj["metadata"]
            self._delete(rtype, meta.get("namespace"), meta["name"], query)
        return status_body(200, "", "")

    def _purge_namespace(self, namespace: str) -> None:
        # What the namespace controller does while the namespace is Terminating; done at
        # once here. Finalizers on the contents are not waited for.
        for rtype in self._storage_types():
            if not rtype.namespaced:
                continue
            for (ns, _), stored in list(self._bucket(rtype).items()):
                if ns == namespace:
                    self._remove(rtype, stored)

    def _remove(self, rtype: ResourceType, stored: _Stored) -> None:
        meta = stored.obj["metadata"]
        bucket = self._bucket(rtype)
        bucket.pop((meta.get("namespace") or "", meta["name"]), None)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._events.append((self._rv, rtype.storage_key, "DELETED", copy.deepcopy(stored.obj)))
        self._changed.notify_all()

    def _commit(self, rtype: ResourceType, stored: _Stored, event: str) -> None:
        self._rv += 1
        meta = stored.obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        self._bucket(rtype)[(meta.get("namespace") or "", meta["name"])] = stored
        self._events.append((self._rv, rtype.storage_key, event, self._render(rtype, stored)))
        self._changed.notify_all()

    # --- admission: per-kind rules -------------------------------------------------------

    def _admit(
        self, rtype: ResourceType, stored: _Stored, existing: _Stored | None, query: dict[str, str]
    ) -> list[tuple[str, str]]:
        obj = stored.obj
        obj["apiVersion"], obj["kind"] = rtype.group_version, rtype.kind
        meta = obj["metadata"]
        name = meta["name"]
        causes: list[tuple[str, str, str]] = []
        self._check_name(rtype, name, causes)
        for label_key, label_value in (meta.get("labels") or {}).items():
            _check_label(label_key, label_value, causes)
        warnings: list[tuple[str, str]] = []
        if rtype.custom and rtype.schema is not None:
            unknown = schema.prune_and_default(obj, rtype.schema)
            validation = query.get("fieldValidation", "Warn")
            if unknown and validation == "Strict":
                raise ApiError(
                    400,
                    "BadRequest",
                    "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in unknown),
                )
            if unknown and validation != "Ignore":
                warnings = [("Warning", f'299 - "unknown field \\"{path}\\""') for path in unknown]
            causes.extend(schema.validate(obj, rtype.schema))
        if rtype.kind == "CustomResourceDefinition":
            self._admit_crd(obj, existing, causes)
        elif rtype.custom and rtype.kind in KARPENTER_READY_KINDS:
            self._karpenter_status(obj)
        elif rtype.kind == "Namespace":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {})["phase"] = "Active"
        elif rtype.kind == "Deployment":
            self._admit_deployment(stored, existing, causes)
        elif rtype.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if existing is not None and "clusterIP" in existing.obj.get("spec", {}):
                spec.setdefault("clusterIP", existing.obj["spec"]["clusterIP"])
            if spec.get("type") != "ExternalName" and "clusterIP" not in spec:
                self._ip += 1
                spec["clusterIP"] = f"10.100.{self._ip // 250}.{self._ip % 250 + 1}"
                spec["clusterIPs"] = [spec["clusterIP"]]
        if causes:
            raise self._invalid(rtype, name, causes)
        return warnings

    def _admit_generation_change(self, rtype: ResourceType, stored: _Stored) -> None:
        if rtype.kind == "Deployment":
            self._start_rollout(stored, was_available=_available(stored.obj))

    def _admit_deployment(self, stored: _Stored, existing: _Stored | None, causes: list[tuple[str, str, str]]) -> None:
        # The defaults the apps/v1 API applies.
        spec = stored.obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        )
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
            causes.append(
                (
                    "spec.replicas",
                    "FieldValueInvalid",
                    "spec.replicas: Invalid value: must be greater than or equal to 0",
                )
            )
        if not (spec.get("selector") or {}).get("matchLabels") and not (spec.get("selector") or {}).get(
            "matchExpressions"
        ):
            causes.append(("spec.selector", "FieldValueRequired", "spec.selector: Required value"))
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
        if any(template_labels.get(k) != v for k, v in match_labels.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
                )
            )
        if existing is None:
            self._start_rollout(stored, was_available=False)

    def _start_rollout(self, stored: _Stored, was_available: bool) -> None:
        # The Deployment controller's view of a rollout: new pods are created and become
        # ready after the model's delay; until then the old ones (if any) keep serving.
        obj = stored.obj
        replicas = obj["spec"].get("replicas", 1)
        generation = obj["metadata"].get("generation", 1)
        now = self._clock()
        delay = self._rollout_seconds()
        if delay <= 0 or replicas == 0:
            obj["status"] = _deployment_ready_status(obj, generation, replicas, now)
            stored.rollout_ready_at = None
            return
        previous = obj.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": 0,
            "unavailableReplicas": replicas,
            "conditions": [
                _condition(
                    "Available",
                    "True" if was_available else "False",
                    "MinimumReplicasAvailable" if was_available else "MinimumReplicasUnavailable",
                    "Deployment has minimum availability."
                    if was_available
                    else "Deployment does not have minimum availability.",
                    now,
                    previous,
                ),
                _condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{_replicaset_name(obj)}" is progressing.',
                    now,
                    previous,
                ),
            ],
        }
        if was_available:
            # The old ReplicaSet's pods keep serving until the new ones are ready.
            serving = min(int(previous.get("availableReplicas") or 0), replicas)
            status.update(
                readyReplicas=serving,
                availableReplicas=serving,
                unavailableReplicas=max(0, replicas - serving),
            )
        obj["status"] = status
        stored.rollout_ready_at = now + delay

    def _advance(self) -> None:
        """Finish the rollouts whose time has come (called with the lock held)."""
        now = self._clock()
        deployments = self._type("apps", "v1", "deployments")
        for stored in list(self._bucket(deployments).values()):
            if stored.rollout_ready_at is not None and stored.rollout_ready_at <= now:
                obj = stored.obj
                obj["status"] = _deployment_ready_status(
                    obj, obj["metadata"].get("generation", 1), obj["spec"].get("replicas", 1), now
                )
                stored.rollout_ready_at = None
                self._commit(deployments, stored, "MODIFIED")
                if obj["metadata"].get("name") == KARPENTER_DEPLOYMENT[1]:
                    self._reconcile_karpenter()
        self._run_karpenter_controller()

    # Karpenter's controller marks its NodePools and EC2NodeClasses Ready once it runs; the
    # emulator does so when the `karpenter` Deployment is available (after its rollout).
    def _karpenter_running(self) -> bool:
        deployments = self._bucket(self._type("apps", "v1", "deployments"))
        stored = deployments.get(KARPENTER_DEPLOYMENT)
        return stored is not None and _available(stored.obj)

    def _karpenter_status(self, obj: dict[str, Any]) -> None:
        now = self._clock()
        previous = obj.get("status") or {}
        others = [c for c in previous.get("conditions") or [] if c.get("type") != "Ready"]
        blocked = [c for c in others if c.get("type") == "InstanceProfileReady" and c.get("status") == "False"]
        if self._karpenter_running() and blocked:
            ready = _condition(
                "Ready", "False", "InstanceProfileNotReady", blocked[0].get("message", ""), now, previous
            )
        elif self._karpenter_running():
            ready = _condition("Ready", "True", "Ready", "", now, previous)
        else:
            ready = _condition(
                "Ready", "Unknown", "AwaitingReconciliation", "object is awaiting reconciliation", now, previous
            )
        obj["status"] = {**previous, "conditions": [ready, *others]}

    def _run_karpenter_controller(self) -> None:
        """What the emulated Karpenter controller does on AWS for EC2NodeClasses while its
        Deployment is available (karpenter_controller.py): add the termination finalizer and
        make the instance profile; on deletion run the finalizer's cleanup, and release the
        object, or keep it with a `CleanupSucceeded` False condition naming the denied call.
        Runs on every request (the real controller requeues on errors)."""
        if self.karpenter is None or not self._karpenter_running():
            return
        rtypes = {t.storage_key: t for t in self._types.values() if t.custom and t.kind == "EC2NodeClass"}
        for rtype in rtypes.values():
            for stored in list(self._bucket(rtype).values()):
                self._karpenter_reconcile_nodeclass(rtype, stored)

    def _karpenter_reconcile_nodeclass(self, rtype: ResourceType, stored: _Stored) -> None:
        from provisioner.sandbox.karpenter_controller import FINALIZER

        obj, meta = stored.obj, stored.obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        before = copy.deepcopy(obj)
        now = self._clock()
        if meta.get("deletionTimestamp"):
            if FINALIZER not in finalizers:
                return
            problem = self.karpenter.finalize(obj)
            if problem is None:
                finalizers.remove(FINALIZER)
                meta["finalizers"] = finalizers
                if not finalizers:
                    self._remove(rtype, stored)
                    return
            else:
                self._set_condition(
                    obj, _condition("CleanupSucceeded", "False", "AccessDenied", problem, now, obj.get("status") or {})
                )
        else:
            if FINALIZER not in finalizers:
                meta["finalizers"] = [*finalizers, FINALIZER]
            problem = self.karpenter.reconcile(obj)
            if problem is None:
                self._set_condition(
                    obj,
                    _condition(
                        "InstanceProfileReady", "True", "InstanceProfileReady", "", now, obj.get("status") or {}
                    ),
                )
            else:
                self._set_condition(
                    obj,
                    _condition("InstanceProfileReady", "False", "AccessDenied", problem, now, obj.get("status") or {}),
                )
            self._karpenter_status(obj)
        if obj != before:
            self._commit(rtype, stored, "MODIFIED")

    @staticmethod
    def _set_condition(obj: dict[str, Any], condition: dict[str, Any]) -> None:
        status = obj.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]] + [
            condition
        ]

    def _reconcile_karpenter(self) -> None:
        for rtype in {
            t.storage_key: t for t in self._types.values() if t.custom and t.kind in KARPENTER_READY_KINDS
        }.values():
            for stored in list(self._bucket(rtype).values()):
                self._karpenter_status(stored.obj)
                self._commit(rtype, stored, "MODIFIED")

    def _admit_crd(self, crd: dict[str, Any], existing: _Stored | None, causes: list[tuple[str, str, str]]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
        if not group:
            causes.append(("spec.group", "FieldValueRequired", "spec.group: Required value"))
        if not plural:
            causes.append(("spec.names.plural", "FieldValueRequired", "spec.names.plural: Required value"))
        if not kind:
            causes.append(("spec.names.kind", "FieldValueRequired", "spec.names.kind: Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                (
                    "spec.scope",
                    "FieldValueNotSupported",
                    f'spec.scope: Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
                )
            )
        versions = spec.get("versions") or []
        if not versions or sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                (
                    "spec.versions",
                    "FieldValueInvalid",
                    "spec.versions: Invalid value: must have exactly one version marked as storage version",
                )
            )
        if group and plural and crd["metadata"]["name"] != f"{plural}.{group}":
            causes.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'metadata.name: Invalid value: "{crd["metadata"]["name"]}": must be '
                    'spec.names.plural+"."+spec.group',
                )
            )
        if (
            existing is not None
            and group
            and (existing.obj["spec"].get("group") != group or existing.obj["spec"]["names"].get("plural") != plural)
        ):
            causes.append(("spec.group", "FieldValueInvalid", "spec.group: Invalid value: field is immutable"))
        if group and any(t.group == group and not t.custom for t in self._types.values()):
            causes.append(
                (
                    "spec.group",
                    "FieldValueInvalid",
                    f'spec.group: Invalid value: "{group}": is a built-in API group',
                )
            )
        if causes:
            return
        names.setdefault("singular", kind.lower())
        names.setdefault("listKind", f"{kind}List")
        now = self._clock()
        previous = crd.get("status") or {}
        crd["status"] = {
            "acceptedNames": copy.deepcopy(names),
            "conditions": [
                _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now, previous),
                _condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                    previous,
                ),
            ],
            "storedVersions": sorted(
                set(previous.get("storedVersions", [])) | {v["name"] for v in versions if v.get("storage")}
            ),
        }

    def _after_create(self, rtype: ResourceType, stored: _Stored) -> None:
        if rtype.kind == "CustomResourceDefinition":
            self._register_crd(stored.obj)
        elif rtype.kind == "Namespace":
            # The service-account controller gives every namespace a `default` account.
            sa_type = self._type("", "v1", "serviceaccounts")
            name = stored.obj["metadata"]["name"]
            if (name, "default") not in self._bucket(sa_type):
                self._create(
                    sa_type,
                    name,
                    {"metadata": {"name": "default"}},
                    {},
                    manager="kube-controller-manager",
                )

    def _after_update(self, rtype: ResourceType, stored: _Stored) -> None:
        if rtype.kind == "CustomResourceDefinition":
            self._unregister_crd(stored.obj, keep_objects=True)
            self._register_crd(stored.obj)

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        names = spec["names"]
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            subresources = tuple(sorted((version.get("subresources") or {}).keys()))
            rtype = ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced",
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames", [])),
                categories=tuple(names.get("categories", [])),
                subresources=subresources,
                schema=((version.get("schema") or {}).get("openAPIV3Schema")),
                custom=True,
            )
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def _unregister_crd(self, crd: dict[str, Any], keep_objects: bool = False) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
        doomed = [key for key, t in self._types.items() if t.custom and t.group == group and t.plural == plural]
        if not keep_objects and doomed:
            rtype = self._types[doomed[0]]
            for stored in list(self._bucket(rtype).values()):
                self._remove(rtype, stored)
            self._objects.pop((group, plural), None)
        for key in doomed:
            del self._types[key]

    # --- checks and helpers --------------------------------------------------------------

    def _check_type_fields(self, rtype: ResourceType, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rtype.group_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({rtype.group_version})",
            )
        if kind and kind != rtype.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})",
            )

    def _check_namespace(self, rtype: ResourceType, namespace: str | None, meta: dict[str, Any]) -> None:
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        meta["namespace"] = namespace
        ns = self._bucket(self._type("", "v1", "namespaces")).get(("", namespace or ""))
        if ns is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f'{self._resource_name(rtype)} "{meta.get("name")}" is forbidden: '
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def _check_name(self, rtype: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> None:
        if rtype.group == "rbac.authorization.k8s.io":
            # RBAC names are path segments: "system:controller:foo" is fine.
            ok = name not in (".", "..") and "/" not in name and "%" not in name
            rule = "may not be '.' or '..' or contain '/' or '%'"
        elif rtype.kind in ("Namespace", "Service"):
            ok = len(name) <= 63 and bool(_DNS_LABEL.match(name))
            rule = (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', "
                "and must start and end with an alphanumeric character"
            )
        else:
            ok = len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))
            rule = (
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, "
                "'-' or '.', and must start and end with an alphanumeric character"
            )
        if not ok:
            causes.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'metadata.name: Invalid value: "{name}": {rule}',
                )
            )

    def _invalid(self, rtype: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
        qualified = f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
        message = f'{qualified} "{name}" is invalid: ' + ", ".join(message for _, _, message in causes)
        details = {
            **self._details(rtype, name),
            "causes": [
                {"reason": reason, "message": message.split(": ", 1)[-1], "field": field_}
                for field_, reason, message in causes
            ],
        }
        details["kind"] = rtype.kind
        return ApiError(422, "Invalid", message, details)

    def _conflict(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            409,
            "Conflict",
            f"Operation cannot be fulfilled on {self._resource_name(rtype)} "
            f'"{name}": the object has been modified; please apply your changes to the latest '
            "version and try again",
            self._details(rtype, name),
        )

    def _not_found(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{self._resource_name(rtype)} "{name}" not found',
            self._details(rtype, name),
        )

    @staticmethod
    def _not_found_path() -> ApiError:
        return ApiError(404, "NotFound", "the server could not find the requested resource", {})

    @staticmethod
    def _resource_name(rtype: ResourceType) -> str:
        return f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural

    @staticmethod
    def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
        details = {"name": name, "kind": rtype.plural}
        if rtype.group:
            details["group"] = rtype.group
        return details

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        return self._types[(group, version, plural)]

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], _Stored]:
        return self._objects.setdefault(rtype.storage_key, {})

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for rtype in self._types.values():
            seen.setdefault(rtype.storage_key, rtype)
        return list(seen.values())


# --- module helpers -----------------------------------------------------------------------

_MISSING = object()


def _same(a: _Stored, b: _Stored) -> bool:
    strip = ("resourceVersion",)
    obj_a = {**a.obj, "metadata": {k: v for k, v in a.obj["metadata"].items() if k not in strip}}
    obj_b = {**b.obj, "metadata": {k: v for k, v in b.obj["metadata"].items() if k not in strip}}
    managers_a = {k: v.paths for k, v in a.managers.items()}
    managers_b = {k: v.paths for k, v in b.managers.items()}
    return obj_a == obj_b and managers_a == managers_b and a.rollout_ready_at == b.rollout_ready_at


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


KARPENTER_READY_KINDS = frozenset({"NodePool", "EC2NodeClass"})
KARPENTER_DEPLOYMENT = ("kube-system", "karpenter")


def _available(obj: dict[str, Any]) -> bool:
    for condition in (obj.get("status") or {}).get("conditions", []):
        if condition.get("type") == "Available":
            return condition.get("status") == "True"
    return False


def _condition(
    kind: str, status: str, reason: str, message: str, now: float, previous_status: dict[str, Any]
) -> dict[str, Any]:
    stamp = _timestamp(now)
    transition = stamp
    for old in previous_status.get("conditions", []) or []:
        if old.get("type") == kind and old.get("status") == status:
            transition = old.get("lastTransitionTime", stamp)
    result = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if kind in ("Available", "Progressing"):
        result["lastUpdateTime"] = stamp
    return result


def _replicaset_name(obj: dict[str, Any]) -> str:
    import hashlib

    template = json.dumps(obj.get("spec", {}).get("template", {}), sort_keys=True)
    return f"{obj['metadata']['name']}-{hashlib.sha256(template.encode()).hexdigest()[:10]}"


def _deployment_ready_status(obj: dict[str, Any], generation: int, replicas: int, now: float) -> dict[str, Any]:
    previous = obj.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            _condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
                previous,
            ),
            _condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{_replicaset_name(obj)}" has successfully progressed.',
                now,
                previous,
            ),
        ],
    }
    if replicas == 0:  # the real controller omits zero counts
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            status.pop(key)
    return status


def _check_label(key: str, value: Any, causes: list[tuple[str, str, str]]) -> None:
    prefix, _, name = key.rpartition("/")
    if (
        (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
        or len(name) > 63
        or not _LABEL_NAME.match(name)
    ):
        causes.append(
            (
                "metadata.labels",
                "FieldValueInvalid",
                f'metadata.labels: Invalid value: "{key}": name part must consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character",
            )
        )
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        causes.append(
            (
                "metadata.labels",
                "FieldValueInvalid",
                f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string '
                "or consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with "
                "an alphanumeric character",
            )
        )


def _decode_json(body: bytes, allow_list: bool = False) -> Any:
    try:
        value = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from None
    if isinstance(value, dict) or (allow_list and isinstance(value, list)):
        return value
    raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")


def _selector(text: str) -> list[tuple[str, str, list[str]]]:
    try:
        return patching.parse_selector(text)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None


def _field_selector(text: str) -> list[tuple[str, str, str]]:
    result = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([a-zA-Z.]+)\s*(==|=|!=)\s*(.*)", part)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f"field label not supported: {part.split('=')[0].rstrip('!')}")
        result.append((match.group(1), "!=" if match.group(2) == "!=" else "=", match.group(3)))
    return result


def _decode_continue(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(namespace), str(name))
    except (ValueError, TypeError):
        raise ApiError(400, "BadRequest", "continue key is not valid") from None


def _load_apply_body(body: bytes) -> Any:
    # apply-patch+yaml bodies are YAML, but clients (kubectl, the Python client) send JSON,
    # which is YAML too and parses two orders of magnitude faster with json.
    if not body:
        return None
    text = body.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _manager_from_user_agent(user_agent: str) -> str:
    # What the API server does without ?fieldManager: the user agent's first product name.
    first = user_agent.split(" ")[0].split("/")[0]
    return first[:128] or "unknown"
