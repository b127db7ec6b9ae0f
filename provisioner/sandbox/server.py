"""The sandbox's simulated AWS: moto's server app behind a small WSGI middleware.

This is the only module that imports moto (and, through it, flask/werkzeug). It is used two
ways: in-process by tests (`SandboxServer`), and as the background process the sandbox
manager starts (`python -m provisioner.sandbox.server --state-file PATH`).

The middleware sees every request from every client (unlike a botocore hook). It counts AWS
API requests per `service:Operation`, answers `/_sandbox/...` control paths, and injects
faults (SPEC section 6, `--faults throttle=R,error=R,fail=Op`): a share of calls answered with
the service's own throttling error or an HTTP 500, and operations that always fail, each in
the wire format of the service's protocol so botocore's retry logic treats them as it treats
AWS's. Slow resources (`--latency`) are simulated by the extensions, not here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# moto decides whether AWS-managed IAM policies (AmazonEKSClusterPolicy, ...) exist from the
# environment; set it before moto is imported so the whole process sees it.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from provisioner.sandbox.faults import ApiCall, FaultSpec, FaultSpecError, fault_response, identify
from provisioner.sandbox.wsgi import organization_accounts_named, read_body, request_account

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Paths that are not AWS API calls: moto's own control API and ours.
MOTO_API_PREFIX = "/moto-api/"
SANDBOX_API_PREFIX = "/_sandbox/"


class SandboxMiddleware:
    """WSGI middleware around moto's app: counts AWS API calls (in total and per
    `service:Operation`), injects faults, and answers `/_sandbox/...` control paths:

    - `GET /_sandbox/stats`: `{"requests": N, "operations": {"ec2:DescribeVpcs": n, ...},
      "faults": {"throttle": a, "error": b, "fail": c}}` (faults injected so far);
    - `POST /_sandbox/stats/reset`: zero the counters;
    - `GET /_sandbox/faults`, `POST /_sandbox/faults` (JSON `{"spec": "throttle=0.1"}` or
      `{"throttle": 0.1, "error": 0.02, "fail": ["CreateNatGateway"], "seed": 7}`): read or
      change the fault settings at runtime (an empty object turns faults off).
    """

    def __init__(self, app: WSGIApp, faults: FaultSpec | None = None) -> None:
        self.app = app
        self._lock = threading.Lock()  # werkzeug serves each request on its own thread
        self._requests = 0
        self._served = 0  # as _requests, but never reset
        self._operations: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self.set_faults(faults or FaultSpec())

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def served(self) -> int:
        """AWS API calls received since the server started. `reset_stats` leaves it: the same
        number twice means no call came in between (test harness: tests/conftest.py `prepared`)."""
        with self._lock:
            return self._served

    @property
    def faults(self) -> FaultSpec:
        with self._lock:
            return self._faults

    def set_faults(self, faults: FaultSpec) -> None:
        """Replace the fault settings; a seed makes the sequence of faults reproducible
        (for calls made one after another; concurrent calls draw in arrival order)."""
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "operations": dict(sorted(self._operations.items())),
                "faults": {kind: self._injected[kind] for kind in ("throttle", "error", "fail")},
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._operations.clear()
            self._injected.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        path = environ.get("PATH_INFO", "")
        if path.startswith(SANDBOX_API_PREFIX):
            return self._control(environ, start_response)
        if path.startswith(MOTO_API_PREFIX) or environ.get("HTTP_X_SANDBOX_WARMUP"):
            return self.app(environ, start_response)  # not an API call of anyone's (sandbox/warmup.py)
        call = identify(environ)
        with self._lock:
            self._requests += 1
            self._served += 1
            self._operations[call.name] += 1
            faults = self._faults
            kind = None
            if faults.fails(call.service, call.operation, _caller_account_is(environ, call) if faults.scoped else None):
                kind = "fail"
            elif faults.throttle or faults.error:
                # One draw per request, so a seeded sequence of calls sees the same faults.
                draw = self._random.random()
                if draw < faults.throttle:
                    kind = "throttle"
                elif draw < faults.throttle + faults.error:
                    kind = "error"
            if kind is not None:
                self._injected[kind] += 1
        if kind is not None:
            return fault_response(start_response, call, kind)
        return self.app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path == "/_sandbox/stats" and method == "GET":
            return _json_response(start_response, "200 OK", self.stats())
        if path == "/_sandbox/stats/reset" and method == "POST":
            self.reset_stats()
            return _json_response(start_response, "200 OK", self.stats())
        if path == "/_sandbox/faults" and method == "GET":
            return _json_response(start_response, "200 OK", self.faults.as_dict())
        if path == "/_sandbox/faults" and method == "POST":
            try:
                body = json.loads(read_body(environ) or b"{}")
                spec = FaultSpec.from_json(body)
            except (ValueError, FaultSpecError) as exc:
                return _json_response(start_response, "400 Bad Request", {"error": str(exc)})
            self.set_faults(spec)
            return _json_response(start_response, "200 OK", spec.as_dict())
        return _json_response(start_response, "404 Not Found", {"error": f"no {method} {path}"})


def _caller_account_is(environ: dict[str, Any], call: ApiCall) -> Callable[[str], bool]:
    """For faults aimed at one account: whether the request's account is the one `scope`
    names (an id, or an organization member's email or name)."""

    def matches(scope: str) -> bool:
        account = request_account(environ, call.access_key)
        return scope == account or account in organization_accounts_named(scope)

    return matches


def _json_response(start_response: Callable[..., Any], status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


# Modules that add to the simulated AWS what moto lacks. Each exposes
# `wrap(app: WSGIApp) -> WSGIApp` (a WSGI layer that answers the calls it implements and
# passes the rest on) and `reset() -> None` (forget its state; called on /moto-api/reset).
# Listed innermost first; a module that is not there yet is skipped.
EXTENSIONS = (
    "provisioner.sandbox.eks",
    "provisioner.sandbox.rds",
    "provisioner.sandbox.organizations",
    "provisioner.sandbox.ecr",
    "provisioner.sandbox.transit",
    "provisioner.sandbox.tagging",
)


# Modules holding a `LATENCY_SCALE` that `set_latency` sets (a package keeps it in the module
# its handlers read it from at each call).
LATENCY_MODULES = (
    "provisioner.sandbox.fidelity",
    "provisioner.sandbox.kube_emulator",
    "provisioner.sandbox.eks.models",
    "provisioner.sandbox.rds.models",
    "provisioner.sandbox.organizations.models",
    "provisioner.sandbox.transit.models",
)


def _extensions() -> list[Any]:
    import importlib

    loaded = []
    for name in EXTENSIONS:
        try:
            loaded.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return loaded


class _ResetAll:
    """Resets the extensions' state along with moto's on POST /moto-api/reset."""

    def __init__(self, app: WSGIApp, extensions: list[Any]) -> None:
        self.app = app
        self.extensions = extensions

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ.get("PATH_INFO", "").rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            for extension in self.extensions:
                extension.reset()
        return self.app(environ, start_response)


def _drop_backends_on_reset() -> None:
    """moto's reset re-initialises every backend built so far (EC2 loads its AMIs and makes
    the default VPC, IAM its managed policies, ...) and then drops them all; the next request
    builds them afresh anyway. Here they are dropped at once; only backends that clean up
    (S3 closes its temporary files, Batch stops its job threads) still run their reset.
    Between tests this was most of a reset's time."""
    from moto.core.base_backend import BackendDict, BaseBackend, backend_lock

    if getattr(BackendDict.reset, "_sandbox", False):
        return

    def reset(cls: Any) -> None:
        with backend_lock:
            for backends in cls._instances:
                for by_region in backends.values():
                    for backend in by_region.values():
                        if type(backend).reset is not BaseBackend.reset:
                            backend.reset()
                backends.clear()
            cls._instances.clear()

    reset._sandbox = True  # type: ignore[attr-defined]
    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]


def _wire_kubernetes(extensions: list[Any]) -> list[Any]:
    """Give every EKS cluster a Kubernetes API: DescribeCluster answers the emulator's
    endpoint and CA; deleting the cluster stops it; a reset stops them all."""
    from provisioner.sandbox import eks_nodes, kube_emulator
    from provisioner.sandbox.eks import models as eks_models

    eks_models.CLUSTER_ENDPOINT_PROVIDER = kube_emulator.endpoint_for
    eks_nodes.NODE_SYNC = kube_emulator.sync_nodes  # node-group instances join as Nodes
    if kube_emulator.remove not in eks_models.CLUSTER_DELETED_HOOKS:
        eks_models.on_cluster_deleted(kube_emulator.remove)
    kube_emulator.CREDENTIAL_RESOLVER = _assumed_role_secret
    return [*extensions, kube_emulator]


def _assumed_role_secret(access_key: str) -> str | None:
    """The secret of a key moto's STS issued (assume_role), so the Kubernetes emulator can
    verify tokens of member-account sessions as EKS would."""
    from moto.sts.models import sts_backends

    for by_partition in list(sts_backends.values()):
        for backend in list(by_partition.values()):
            role = backend.get_assumed_role_from_access_key(access_key)
            if role:
                return str(role.secret_access_key)
    return None


def set_latency(scale: float) -> None:
    """`sandbox start --latency SCALE`: every simulated slow operation takes p50 x SCALE
    seconds of latency-model.md (NAT gateways, EKS clusters, node groups and add-ons, RDS,
    created accounts, backup replication, Deployment rollouts); 0 is instant."""
    import importlib

    for name in LATENCY_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        setattr(module, "LATENCY_SCALE", float(scale))  # noqa: B010 - each module's own setting


def build_app(faults: FaultSpec | None = None) -> SandboxMiddleware:
    """moto's multi-service server app (dispatching on Host/signature), wrapped by the
    sandbox's extensions, then by the middleware that counts calls and injects faults."""
    from provisioner.sandbox import moto_costs
    from provisioner.sandbox.fidelity import apply_patches

    moto_costs.apply_patches()
    apply_patches()
    _drop_backends_on_reset()
    app: WSGIApp = DomainDispatcherApplication(create_backend_app)
    extensions = _extensions()
    for extension in extensions:
        app = extension.wrap(app)
    return SandboxMiddleware(_ResetAll(app, _wire_kubernetes(extensions)), faults)


class _QuietRequestHandler(MotoRequestHandler):
    """Drops werkzeug's per-request access log line (errors are still logged): the
    background server's log would otherwise grow by a line per AWS call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    """A threaded werkzeug server for `build_app()`, like moto's ThreadedMotoServer.

    `port=0` picks a free port; `.url` reports the one bound. Unlike ThreadedMotoServer,
    `stop()` also closes the listening socket, so tests can start many. moto keeps its
    backends in module globals, so every server in one process shares the same simulated
    AWS (and `reset()` on one resets all); only the request counters are per server.
    """

    def __init__(
        self, ip_address: str = "127.0.0.1", port: int = 0, verbose: bool = False, faults: FaultSpec | None = None
    ):
        self._ip_address = ip_address
        self._port = port
        self._verbose = verbose
        self._faults = faults
        self.app: SandboxMiddleware | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("sandbox server already started")
        self.app = build_app(self._faults)
        # Bind in the caller's thread so a port conflict raises here, not in the thread.
        self._server = make_server(
            self._ip_address,
            self._port,
            self.app,
            threaded=True,
            request_handler=MotoRequestHandler if self._verbose else _QuietRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._server.server_close()
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._ip_address}:{self.port}"

    def reset(self) -> None:
        """Forget every simulated resource (moto's reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        # No proxies: the server is on loopback, and HTTP(S)_PROXY would otherwise apply.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def _remove_state_if_ours(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioner.sandbox.server")
    parser.add_argument("--state-file", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--latency", type=float, default=0.0, help="scale of latency-model.md p50 times (0: instant)")
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="throttle=R,error=R,fail=Op[,fail=service:Op][,seed=N] (see FaultSpec)",
    )
    parser.add_argument("--faults-seed", type=int, default=None, help="seed of the fault sequence (default: random)")
    args = parser.parse_args(argv)
    if args.latency < 0:
        parser.error("--latency must be 0 or more")
    try:
        faults = FaultSpec.parse(args.faults)
    except FaultSpecError as exc:
        parser.error(str(exc))
    if args.faults_seed is not None:
        faults = dataclasses.replace(faults, seed=args.faults_seed)

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = SandboxServer(port=args.port, verbose=args.verbose, faults=faults)
    server.start()
    set_latency(args.latency)
    from provisioner.sandbox import warmup

    warmup.start(server.url)
    state_file: Path = args.state_file.resolve()
    # The state file appears only once the socket is listening: its presence plus a live
    # pid is what the manager waits for.
    _write_state(
        state_file,
        {
            "pid": os.getpid(),
            "aws_endpoint_url": server.url,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "port": server.port,
            "latency": args.latency,
            "faults": str(faults),
        },
    )
    print(f"sandbox: serving simulated AWS on {server.url} (pid {os.getpid()})", flush=True)
    try:
        # Short waits rather than one long one, so the signal handler's flag is seen promptly.
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        _remove_state_if_ours(state_file)
        print("sandbox: stopped", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and the state file removed; what is left is the interpreter's
    # shutdown, which tears down moto's thousands of objects and the emulators' threads for
    # ~3.5 s on a 2-core machine, with nothing to save. `sandbox stop` waits for the process.
    os._exit(code)
