"""The one AWS call wrapper the kinds use: an operation by name on the run's client, with
AWS's errors mapped to the engine's taxonomy (amazon.aws's thin wrappers, DESIGN: AWS calls).

- `missing_ok`: "not found" is success (a delete whose target is already gone); what counts
  as not found is `is_missing` (services spell it differently: RDS's codes do not all end in
  `NotFound`);
- `temporary`: the codes retried as eventual consistency (`TemporaryError`), the shared set
  unless a service needs its own (RDS's `Invalid...State` while an instance is deleting);
- `hint`: the `next:` line of the error, or a function that picks it from the error.

Throttling is not handled here: botocore's `standard` retry mode does it (aws/session.py).
The per-service helpers (`ec2_call`, `eks_call`, `rds_call`, organizations' `call`) are
this function with their service's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.aws.errors import TEMPORARY_CODES, ClientError, as_provisioner_error, is_not_found
from provisioner.engine.context import RunContext


def call(
    ctx: RunContext,
    service: str,
    operation: str,
    *,
    key: str | None,
    region: str | None = None,
    missing_ok: bool = False,
    is_missing: Callable[[ClientError], bool] = is_not_found,
    temporary: frozenset[str] = TEMPORARY_CODES,
    hint: str | Callable[[ClientError], str | None] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """`operation` (boto3's name: `create_vpc`) of `service` with `params`; see the module
    docstring for the options. The node `key` is named in the error."""
    try:
        return getattr(ctx.aws.client(service, region), operation)(**params)
    except ClientError as exc:
        if missing_ok and is_missing(exc):
            return {}
        message_hint = hint(exc) if callable(hint) else hint
        raise as_provisioner_error(exc, key=key, hint=message_hint, temporary=temporary) from exc
