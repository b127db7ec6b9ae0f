"""The WSGI layer: recognises Organizations, GuardDuty and CloudTrail calls by their SigV4
scope and hands each to its service (`organizations`, `guardduty`, `cloudtrail`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from provisioner.sandbox.organizations.cloudtrail import CloudTrail
from provisioner.sandbox.organizations.guardduty import GuardDuty
from provisioner.sandbox.organizations.models import (
    ApiError,
    Forwarder,
    Request,
    error_response,
)
from provisioner.sandbox.organizations.organizations import Organizations
from provisioner.sandbox.wsgi import credential_scope, read_body, request_account


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    return OrganizationsApi(app)


class OrganizationsApi:
    """Answers Organizations, GuardDuty and CloudTrail calls it amends; passes the rest on."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.services: dict[str, Forwarder] = {
            "organizations": Organizations(app),
            "guardduty": GuardDuty(app),
            "cloudtrail": CloudTrail(app),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = credential_scope(environ)
        if scope is None or scope.service not in self.services:
            return self.app(environ, start_response)
        service = scope.service
        body = read_body(environ)
        request = Request(environ, body, request_account(environ, scope.access_key), scope.region, scope.access_key)
        try:
            # No lock around the whole call: forwarding to moto can take a second (a new
            # account's IAM backend loads AWS's managed policies), and calls run concurrently.
            answer = self.services[service].handle(request)
        except ApiError as exc:
            return error_response(start_response, service, exc)
        if answer is None:
            return self.app(environ, start_response)
        status, headers, data = answer
        start_response(status, headers)
        return [data]
