"""The WSGI layer: recognises EKS calls by their SigV4 scope, routes them (`urls`) to the
handlers, answers as EKS does, and passes every other request (and the EKS calls it leaves to
moto) on to the app behind it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from provisioner.sandbox import eks_nodes
from provisioner.sandbox.eks import models
from provisioner.sandbox.eks.exceptions import EksError
from provisioner.sandbox.eks.lifecycle import notify_deleted, settle
from provisioner.sandbox.eks.models import lock
from provisioner.sandbox.eks.protocol import Reply, Request, eks_request, respond
from provisioner.sandbox.eks.urls import ROUTES
from provisioner.sandbox.wsgi import WSGIApp, read_body, request_account

log = logging.getLogger(__name__)


class EksApi:
    """The WSGI layer: EKS calls it implements are answered here, the rest go to moto."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signed = eks_request(environ)
        if signed is None:
            return self.app(environ, start_response)
        access_key, region = signed
        body = read_body(environ)  # put back: moto reads it again if the call is passed on
        path = environ.get("PATH_INFO", "") or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        req = Request(
            environ,
            environ.get("REQUEST_METHOD", "GET").upper(),
            path,
            parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            body,
            access_key,
            region,
            request_account(environ, access_key),
            self.app,
        )
        handler, params = self._route(req)
        try:
            with lock:
                settle(req.account, req.region)
                reply = handler(req, **params) if handler is not None else None
                settle(req.account, req.region)  # with latency 0, what the call started is done
        except EksError as error:
            return _error(start_response, error)
        except Exception as exc:  # a sandbox bug: answer as EKS would (ServerException), log it
            log.exception("sandbox EKS extension failed on %s %s", req.method, req.path)
            return _error(start_response, EksError("ServerException", f"sandbox EKS extension error: {exc!r}"))
        finally:
            notify_deleted()
            eks_nodes.flush()
        if reply is None:
            return self.app(environ, start_response)
        if reply.raw is not None:
            status, headers, data = reply.raw
            start_response(status, headers)
            return [data]
        assert reply.body is not None
        if reply.endpoint_for is not None:
            try:
                apply_endpoint_provider(req, reply.endpoint_for, reply.body)
            except Exception as exc:  # the emulator's failure must be visible, not a fake endpoint
                log.exception("CLUSTER_ENDPOINT_PROVIDER failed")
                return _error(start_response, EksError("ServerException", f"sandbox endpoint provider failed: {exc}"))
        return respond(start_response, reply.status, reply.body)

    def _route(self, req: Request) -> tuple[Callable[..., Reply | None] | None, dict[str, str]]:
        for method, pattern, handler in ROUTES:
            if method == req.method:
                match = pattern.fullmatch(req.path)
                if match:
                    return handler, match.groupdict()
        return None, {}


def wrap(app: WSGIApp) -> WSGIApp:
    """The sandbox extension entry point (see server.EXTENSIONS)."""
    return EksApi(app)


def apply_endpoint_provider(req: Request, name: str, body: dict[str, Any]) -> None:
    provider = models.CLUSTER_ENDPOINT_PROVIDER
    cluster = body.get("cluster")
    if provider is None or not isinstance(cluster, dict):
        return
    found = provider(req.account, req.region, name)
    if found:
        endpoint, ca_data = found
        cluster["endpoint"] = endpoint
        cluster["certificateAuthority"] = {**(cluster.get("certificateAuthority") or {}), "data": ca_data}


def _error(start_response: Callable[..., Any], error: EksError) -> list[bytes]:
    return respond(start_response, error.status, error.body(), [("x-amzn-ErrorType", error.code)])
