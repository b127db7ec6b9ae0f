"""Kubernetes API endpoints for the sandbox's EKS clusters (SPEC section 6).

An EKS cluster made in the sandbox gets a working Kubernetes API, reached exactly as on real
EKS: `describe_cluster` gives the endpoint and the CA (base64 of the PEM), and the client
sends a bearer token built from a presigned STS GetCallerIdentity URL.
`provisioner.sandbox.eks` calls `endpoint_for(account, region, cluster_name)` (it is the
`CLUSTER_ENDPOINT_PROVIDER`) to put both into its DescribeCluster answers.

- One HTTPS server per cluster on 127.0.0.1 and a port of its own, started on first use;
  the same cluster always gets the same emulator until `remove()` or `reset()`. One port per
  cluster keeps the server URL a plain `https://127.0.0.1:PORT`, as kubeconfigs expect.
- Each cluster has its own CA and a server certificate for 127.0.0.1 (`kube.tls`).
- Bearer tokens are checked the EKS way, offline (`kube.auth`): shape, 15-minute age, and a
  SigV4 signature over `x-k8s-aws-id: <this cluster>` for access keys whose secret is
  known (the sandbox's static keys, plus whatever `CREDENTIAL_RESOLVER` finds). See
  `ALLOW_UNVERIFIABLE_TOKENS` for keys whose secret is not known.
- What the API itself emulates and what it does not: `kube.apiserver`.
- Karpenter's controller is emulated for EC2NodeClasses (`karpenter_controller`): it acts on
  AWS as the role of the `kube-system/karpenter` Pod Identity association allows, so a
  policy missing a permission the finalizer needs keeps the EC2NodeClass, with a condition.
- `LATENCY_SCALE` stretches the Deployment rollout time (p50 60 s, latency-model.md:
  "Karpenter controller ready after install"); 0 (the default) makes rollouts instant.

Wiring (in the sandbox server process, where moto and `eks` live):
`eks.models.CLUSTER_ENDPOINT_PROVIDER = endpoint_for`, `eks.models.on_cluster_deleted(remove)`,
`reset()` alongside moto's reset, `LATENCY_SCALE` from `sandbox start --latency`, and
optionally `CREDENTIAL_RESOLVER` looking keys up in moto's STS backend.

Why not kmock: notes/simulation.md measured kmock 0.8 as the starting point, but it mis-parses
`/api/v1/namespaces`, has no CRD enforcement, discovery, selectors, SSA create, PUT,
resourceVersions or auth, and runs on asyncio; with everything this sandbox needs replaced
in a subclass, only its transport and private internals would remain. A synchronous
emulator with one lock per cluster is smaller to reason about and has no dependency.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from provisioner.sandbox import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY, karpenter_controller
from provisioner.sandbox.kube import auth
from provisioner.sandbox.kube.apiserver import ClusterApi
from provisioner.sandbox.kube.objects import Response
from provisioner.sandbox.kube.tls import TlsMaterial, make_tls_material

log = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Scales the emulated rollout time; set by `sandbox start --latency SCALE`.
LATENCY_SCALE = 0.0
# latency-model.md: "Karpenter controller ready after install", p50.
ROLLOUT_P50_SECONDS = 60.0

# Kubernetes version reported by /version when endpoint_for() is not told one.
DEFAULT_KUBERNETES_VERSION = "1.32"

# Access keys whose secret the emulator knows, so it can verify token signatures: the
# sandbox's static credentials (moto accepts any; these are what the CLI uses).
STATIC_CREDENTIALS: dict[str, str] = {SANDBOX_ACCESS_KEY_ID: SANDBOX_SECRET_ACCESS_KEY}
# Optional lookup for other keys, e.g. the temporary credentials moto's STS hands out for
# assume_role: `CREDENTIAL_RESOLVER = lambda access_key_id: secret_or_None`.
CREDENTIAL_RESOLVER: Callable[[str], str | None] | None = None
# A token signed with a key the emulator cannot resolve cannot have its signature (and so
# its cluster binding) checked. True: accept it after the shape and age checks, so that
# sessions in member accounts (assume_role) work before a resolver is wired. False: refuse.
ALLOW_UNVERIFIABLE_TOKENS = True

_Key = tuple[str, str, str]


def endpoint_for(
    account: str, region: str, cluster_name: str, *, kubernetes_version: str | None = None
) -> tuple[str, str]:
    """`(https_url, ca_base64)` of the cluster's API server, starting it on first use.

    Idempotent and thread-safe: a cluster keeps its emulator (and its objects) until
    `remove()` or `reset()`.
    """
    key = (account, region, cluster_name)
    with _registry_lock:
        emulator = _emulators.get(key)
        if emulator is None:
            emulator = KubeEmulator(cluster_name, kubernetes_version=kubernetes_version or DEFAULT_KUBERNETES_VERSION)
            emulator.start()
            assert emulator.api is not None
            emulator.api.karpenter = karpenter_controller.Controller(account, region, cluster_name)
            _emulators[key] = emulator
        return emulator.url, emulator.ca_base64


def remove(account: str, region: str, cluster_name: str) -> bool:
    """Stop and forget the cluster's emulator (its cluster was deleted); False if none."""
    with _registry_lock:
        emulator = _emulators.pop((account, region, cluster_name), None)
    if emulator is None:
        return False
    emulator.stop()
    return True


def reset() -> None:
    """Stop every emulator (the sandbox was reset or is stopping)."""
    with _registry_lock:
        emulators = list(_emulators.values())
        _emulators.clear()
    for emulator in emulators:
        emulator.stop()


@dataclass(frozen=True)
class ClusterCopy:
    """A cluster API's objects and settings, as a sandbox snapshot keeps them (sandbox/snapshot.py)."""

    key: _Key
    kubernetes_version: str
    tls: TlsMaterial
    port: int
    contents: dict[str, Any]  # ClusterApi.contents()


def cluster_copies() -> list[ClusterCopy]:
    """What every running cluster API holds (live references: the snapshot copies them)."""
    with _registry_lock:
        emulators = list(_emulators.items())
    return [
        ClusterCopy(key, emulator.kubernetes_version, emulator._tls, emulator.port, emulator.api.contents())
        for key, emulator in emulators
        if emulator.api is not None
    ]


def bring_back(copies: list[ClusterCopy]) -> None:
    """Start a cluster API for each copy, holding its objects, at the same URL and with the
    same CA: the cluster's endpoint is in what was applied to it (Karpenter's Deployment
    names it). OSError if the port has been taken meanwhile."""
    for copied in copies:
        account, region, cluster_name = copied.key
        emulator = KubeEmulator(
            cluster_name, kubernetes_version=copied.kubernetes_version, port=copied.port, tls=copied.tls
        )
        emulator.start()
        assert emulator.api is not None
        emulator.api.karpenter = karpenter_controller.Controller(account, region, cluster_name)
        emulator.api.load_contents(copied.contents)
        with _registry_lock:
            replaced = _emulators.get(copied.key)
            _emulators[copied.key] = emulator
        if replaced is not None:
            replaced.stop()


def emulator_for(account: str, region: str, cluster_name: str) -> KubeEmulator | None:
    """The running emulator of a cluster, if any (for tests and diagnostics)."""
    with _registry_lock:
        return _emulators.get((account, region, cluster_name))


def sync_nodes(
    account: str, region: str, cluster_name: str, kubernetes_version: str, nodes: list[dict[str, Any]]
) -> None:
    """Install the cluster's node-group Nodes (`eks_nodes.NODE_SYNC`), starting its API server
    if nobody has asked for it yet, so the Nodes are there when someone does."""
    endpoint_for(account, region, cluster_name, kubernetes_version=kubernetes_version)
    emulator = emulator_for(account, region, cluster_name)
    if emulator is not None and emulator.api is not None:
        emulator.api.sync_nodes(nodes)


def resolve_secret(access_key_id: str) -> str | None:
    if access_key_id in STATIC_CREDENTIALS:
        return STATIC_CREDENTIALS[access_key_id]
    resolver = CREDENTIAL_RESOLVER
    return resolver(access_key_id) if resolver is not None else None


class KubeEmulator:
    """One cluster's API server: a `ClusterApi` behind an HTTPS server on its own port."""

    def __init__(
        self,
        cluster_name: str,
        *,
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        port: int = 0,
        tls: TlsMaterial | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.kubernetes_version = kubernetes_version
        self._port = port
        self._tls: TlsMaterial = tls or make_tls_material(cluster_name)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.api: ClusterApi | None = None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((HOST, self._port), _Handler, self._tls.server_context())
        port = server.server_address[1]
        self.api = ClusterApi(
            self.cluster_name,
            authenticate=self._authenticate,
            server_address=f"{HOST}:{port}",
            kubernetes_version=self.kubernetes_version,
            rollout_seconds=lambda: ROLLOUT_P50_SECONDS * LATENCY_SCALE,
        )
        server.api = self.api
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kube-emulator-{self.cluster_name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if self.api is not None:
            self.api.stop()  # ends watch streams
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def ca_base64(self) -> str:
        return self._tls.ca_base64

    @property
    def ca_pem(self) -> bytes:
        return self._tls.ca_pem

    def _authenticate(self, token: str) -> None:
        auth.verify_token(
            token,
            self.cluster_name,
            resolve_secret=resolve_secret,
            allow_unverifiable=ALLOW_UNVERIFIABLE_TOKENS,
        )


class _Server(ThreadingHTTPServer):
    """HTTPS with the TLS handshake done on each connection's own thread.

    Wrapping the listening socket with `do_handshake_on_connect=False` keeps a slow or
    failing handshake (a client that does not trust the CA) from blocking accept().
    """

    daemon_threads = True
    allow_reuse_address = True
    api: ClusterApi

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, handler)
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop kept-alive and streaming connections, so no handler thread outlives stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up or reject the certificate are normal; log, don't print.
        log.debug("kube emulator: connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the Python client and kubectl reuse connections
    # Without TCP_NODELAY every kept-alive response waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "kube-emulator"
    # An idle kept-alive connection is closed after this; a watch is not idle.
    timeout = 120
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.server.api.handle(self.command, url.path, query, headers, body)
        except Exception:  # a bug in the emulator: answer like an API server would
            log.exception("kube emulator: %s %s failed", self.command, url.path)
            response = Response(
                500,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "reason": "InternalError",
                    "code": 500,
                    "message": "internal error in the sandbox's Kubernetes emulator",
                },
            )
        if response.stream is not None:
            self._send_stream(response)
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        if isinstance(response.body, (bytes, bytearray)):
            data = bytes(response.body)
        else:
            data = json.dumps(response.body, separators=(",", ":")).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_stream(self, response: Response) -> None:
        # A watch: newline-delimited JSON events in HTTP/1.1 chunks, until the stream ends.
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        assert response.stream is not None
        try:
            for chunk in response.stream:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            close = getattr(response.stream, "close", None)
            if close is not None:
                close()

    def _read_chunked(self) -> bytes:
        data = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kube emulator %s: " + format, self.server.api.cluster_name, *args)


_registry_lock = threading.Lock()
_emulators: dict[_Key, KubeEmulator] = {}
