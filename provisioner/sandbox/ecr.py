"""The sandbox's ECR registry replication configuration, answered as AWS answers it.

moto 5.2 refuses a replication configuration of more than one rule ("This feature is
disabled"), so a registry where another team already replicates could not be simulated, and a
tool that overwrites the whole configuration (PutReplicationConfiguration replaces it) looked
right. This layer answers PutReplicationConfiguration itself, with the limits of the ECR API
reference and botocore's model (ecr 2015-09-21, shapes ReplicationConfiguration,
ReplicationRule, RepositoryFilter):

- up to 25 rules (ReplicationRuleList max 25), each with up to 100 destinations and 1 to 100
  repository filters of type PREFIX_MATCH (RepositoryFilterList; quota "Filters per rule in a
  replication configuration": 100) -> ValidationException;
- no destination may be the registry itself (this account in this region) ->
  InvalidParameterException, as moto already says for one rule;

and stores the configuration on moto's backend, so DescribeRegistry (moto's) answers it.

Not simulated: replication itself (moto never copies an image, so nothing is created in the
destination region by a push); repository creation templates (the tool makes the destination
repositories itself; see steps/shared/__init__.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from provisioner.sandbox.wsgi import credential_scope, read_body, request_account

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
MAX_RULES = 25
MAX_DESTINATIONS = 100
MAX_FILTERS = 100


class ApiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def reset() -> None:
    """Nothing of its own to forget: the configuration lives on moto's backend."""


def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
    return _EcrApi(app)


class _EcrApi:
    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        scope = credential_scope(environ)
        if target != f"{ECR_TARGET}PutReplicationConfiguration" or not scope or scope.service != "ecr":
            return self.app(environ, start_response)
        try:
            body = json.loads(read_body(environ) or b"{}")
            answer = _put_replication_configuration(request_account(environ, scope.access_key), scope.region, body)
        except ApiError as exc:
            return _respond(start_response, "400 Bad Request", {"__type": exc.code, "message": exc.message})
        except ValueError:
            return _respond(
                start_response,
                "400 Bad Request",
                {"__type": "SerializationException", "message": "Request body is not valid JSON"},
            )
        return _respond(start_response, "200 OK", answer)


def _put_replication_configuration(account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
    from moto.ecr.models import ecr_backends

    configuration = body.get("replicationConfiguration")
    if not isinstance(configuration, dict) or not isinstance(configuration.get("rules"), list):
        raise ApiError(
            "ValidationException",
            "1 validation error detected: Value null at 'replicationConfiguration.rules' failed to satisfy constraint: Member must not be null",
        )
    rules = configuration["rules"]
    if len(rules) > MAX_RULES:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value at 'replicationConfiguration.rules' failed to satisfy constraint: Member must have length less than or equal to {MAX_RULES}",
        )
    for index, rule in enumerate(rules, 1):
        destinations = rule.get("destinations") or []
        filters = rule.get("repositoryFilters")
        where = f"replicationConfiguration.rules.{index}"
        if len(destinations) > MAX_DESTINATIONS:
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value at '{where}.destinations' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESTINATIONS}",
            )
        if filters is not None and not 1 <= len(filters) <= MAX_FILTERS:
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value at '{where}.repositoryFilters' failed to satisfy constraint: Member must have length between 1 and {MAX_FILTERS}",
            )
        for item in filters or []:
            if item.get("filterType") != "PREFIX_MATCH":
                raise ApiError(
                    "ValidationException",
                    f"Invalid filterType {item.get('filterType')!r} in '{where}.repositoryFilters': must be PREFIX_MATCH",
                )
        for destination in destinations:
            if destination.get("region") == region and destination.get("registryId") == account:
                raise ApiError(
                    "InvalidParameterException",
                    "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                    "'Replication destination cannot be the same as the source registry'",
                )
    backend = ecr_backends[account][region]
    backend.replication_config = {"rules": rules}
    return {"replicationConfiguration": {"rules": rules}}


def _respond(start_response: Callable[..., Any], status: str, payload: dict[str, Any]) -> list[bytes]:
    data = json.dumps(payload).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", secrets.token_hex(16)),
    ]
    if not status.startswith("200"):
        headers.append(("x-amzn-ErrorType", json.loads(data)["__type"]))
    start_response(status, headers)
    return [data]
