"""Kubernetes API access for the steps. The only module that imports `kubernetes`.

- `api_client(endpoint, ca_base64, token)`: a client for an EKS cluster from what
  `describe_cluster` returns (endpoint, `certificateAuthority.data`) and an EKS token
  (`provisioner.aws.eks_token`). The CA is passed as data (no file, no kubeconfig). `token`
  may be a callable: EKS tokens live 15 minutes, so a long-lived client refreshes its token
  through it every `TOKEN_REFRESH_SECONDS`.
- `server_side_apply`, `get`, `delete`, `list_objects`: by `apiVersion` and `kind`, for
  built-in and custom resources alike, returning plain dicts. They use the client's raw
  `param_serialize`/`call_api`, not the typed APIs: in kubernetes 37.0.1
  `patch_*_custom_object` only deserializes a 200, so a server-side apply that creates
  (201) returns None (notes/simulation.md); and DynamicClient caches discovery in a file
  under /tmp keyed by host, which goes stale when a sandbox reuses a port.
- Kinds are mapped to their plural resource names by API discovery, cached per client and
  re-read once on a miss (a CRD may have been created since).
- Failures raise `KubeApiError` with the HTTP status and the API's `Status` reason and
  message, so callers never import kubernetes to handle them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

# EKS accepts a token for 15 minutes after it was signed; refresh well before that.
TOKEN_REFRESH_SECONDS = 10 * 60
LIST_PAGE_SIZE = 500
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


class KubeApiError(Exception):
    """A Kubernetes API call failed: `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def _k8s() -> Any:
    """The `kubernetes.client` package, imported on first use: importing it takes about
    0.2 s of CPU, and most commands never reach a cluster (the organization and shared plans,
    `validate`, a plan whose cluster does not exist yet); in a run of the estate it sat in the
    start-up that precedes every plan."""
    from kubernetes import client

    return client


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


def api_client(endpoint: str, ca_base64: str, token: str | Callable[[], str]) -> Any:
    """A `kubernetes.client.ApiClient` for `endpoint`, trusting only the cluster's CA.

    `ca_base64` is `certificateAuthority.data` from describe_cluster: base64 of the PEM.
    `token` is a bearer token, or a callable returning a fresh one.
    """
    k8s = _k8s()
    configuration = k8s.Configuration()
    configuration.host = endpoint.rstrip("/")
    configuration.verify_ssl = True
    configuration.ca_cert_data = base64.b64decode(ca_base64).decode("ascii")
    configuration.api_key_prefix = {"authorization": "Bearer"}
    if callable(token):
        refresh = _TokenRefresher(token)
        configuration.api_key = {"authorization": refresh.current()}
        configuration.refresh_api_key_hook = refresh
    else:
        configuration.api_key = {"authorization": token}
    # Never log request headers: they carry the token.
    configuration.debug = False
    # The runner's workers share one client per cluster; urllib3's default pool of 10 is small.
    configuration.connection_pool_maxsize = 32
    return k8s.ApiClient(configuration)


class _TokenRefresher:
    """`Configuration.refresh_api_key_hook`: called before each request."""

    def __init__(self, make_token: Callable[[], str]) -> None:
        self._make_token = make_token
        self._lock = threading.Lock()
        self._token = ""
        self._made_at = 0.0

    def current(self) -> str:
        with self._lock:
            if not self._token or time.monotonic() - self._made_at > TOKEN_REFRESH_SECONDS:
                self._token = self._make_token()
                self._made_at = time.monotonic()
            return self._token

    def __call__(self, configuration: Any) -> None:
        configuration.api_key["authorization"] = self.current()


def server_side_apply(
    api_client: Any,
    manifest: dict[str, Any],
    field_manager: str = "provisioner",
    force: bool = True,
) -> dict[str, Any]:
    """Server-side apply `manifest`; return the object as the server now has it.

    Creates the object when absent (201) and updates it otherwise (200): both return it.
    Fields unknown to the kind's schema are refused (fieldValidation=Strict). A namespaced
    object without `metadata.namespace` goes to `default`. With `force`, fields
    another manager owns are taken over instead of failing with 409.
    """
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    name = (manifest.get("metadata") or {}).get("name")
    if not api_version or not kind or not name:
        raise ValueError("a manifest needs apiVersion, kind and metadata.name")
    resource = _resolve(api_client, api_version, kind)
    if resource is None:
        raise KubeApiError(
            404,
            "NotFound",
            f"the server has no resource for {kind} in {api_version} (is its CRD installed?)",
        )
    namespace = (manifest.get("metadata") or {}).get("namespace") or "default"
    path = _path(api_version, resource, namespace, name)
    # Strict, as `kubectl apply --server-side` sends by default: a field the schema does not
    # know is an error (400), not silently pruned.
    query = [("fieldManager", field_manager), ("fieldValidation", "Strict")]
    if force:
        query.append(("force", "true"))
    _, body = _call(api_client, "PATCH", path, query=query, body=manifest, content_type=APPLY_CONTENT_TYPE)
    return body or {}


def get(api_client: Any, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    """The object, or None when it (or its kind) does not exist."""
    resource = _resolve(api_client, api_version, kind)
    if resource is None:
        return None
    try:
        _, body = _call(api_client, "GET", _path(api_version, resource, namespace, name))
    except KubeApiError as exc:
        if exc.not_found:
            return None
        raise
    return body


def delete(api_client: Any, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
    """Ask for deletion; True if the object existed. Deletion may finish later (finalizers);
    "not found" (object or kind) is success for a destroy, and returns False."""
    resource = _resolve(api_client, api_version, kind)
    if resource is None:
        return False
    # Background: dependents (a Deployment's ReplicaSets) are collected after the owner goes,
    # what kubectl does too.
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    try:
        _call(api_client, "DELETE", _path(api_version, resource, namespace, name), body=options)
    except KubeApiError as exc:
        if exc.not_found:
            return False
        raise
    return True


def list_objects(
    api_client: Any,
    api_version: str,
    kind: str,
    namespace: str | None = None,
    label_selector: str | None = None,
) -> list[dict[str, Any]]:
    """All objects of a kind (in `namespace`, or in all namespaces when None), following
    list pagination. An unknown kind (no CRD) has no objects."""
    resource = _resolve(api_client, api_version, kind)
    if resource is None:
        return []
    path = _path(api_version, resource, namespace, None)
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = [("limit", str(LIST_PAGE_SIZE))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if token:
            query.append(("continue", token))
        _, body = _call(api_client, "GET", path, query=query)
        body = body or {}
        for item in body.get("items") or []:
            # Lists of built-in kinds may omit each item's apiVersion and kind.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            items.append(item)
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


# --- internals ---------------------------------------------------------------------------

_discovery_lock = threading.Lock()
_discovery: weakref.WeakKeyDictionary[Any, dict[str, dict[str, _Resource] | None]] = weakref.WeakKeyDictionary()


def _resolve(api_client: Any, api_version: str, kind: str) -> _Resource | None:
    with _discovery_lock:
        cache = _discovery.setdefault(api_client, {})
        known = cache.get(api_version)
    if known is not None and kind in known:
        return known[kind]
    # Unknown so far: read discovery again, as a CRD may have been created since.
    fresh = _discover(api_client, api_version)
    with _discovery_lock:
        _discovery.setdefault(api_client, {})[api_version] = fresh
    return (fresh or {}).get(kind)


def _discover(api_client: Any, api_version: str) -> dict[str, _Resource] | None:
    try:
        _, body = _call(api_client, "GET", _group_version_path(api_version))
    except KubeApiError as exc:
        if exc.not_found:
            return None  # the group/version is not served (yet)
        raise
    result: dict[str, _Resource] = {}
    for entry in (body or {}).get("resources", []):
        if "/" in entry.get("name", ""):
            continue  # a subresource such as deployments/status
        result[entry["kind"]] = _Resource(entry["name"], bool(entry.get("namespaced")))
    return result


def _group_version_path(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def _path(api_version: str, resource: _Resource, namespace: str | None, name: str | None) -> str:
    path = _group_version_path(api_version)
    if resource.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{resource.plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    return path


def _call(
    api_client: Any,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any] | None]:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    try:
        response = api_client.call_api(*request)
        data = response.read()
    except _k8s().ApiException as exc:  # TLS failures surface as status 0
        raise KubeApiError(exc.status or 0, str(exc.reason or "Error"), "request failed") from None
    except Exception as exc:  # urllib3 connection errors: no answer at all
        if type(exc).__module__.startswith("urllib3"):
            raise KubeApiError(0, type(exc).__name__, str(exc)) from None
        raise
    parsed: dict[str, Any] | None = None
    if data:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
    if not 200 <= response.status <= 299:
        status_obj = parsed if isinstance(parsed, dict) else {}
        raise KubeApiError(
            response.status,
            str(status_obj.get("reason") or response.reason or "Error"),
            str(status_obj.get("message") or (data or b"").decode("utf-8", "replace")[:500]),
            status_obj,
        )
    return response.status, parsed
