"""Reading botocore errors and turning them into the engine's taxonomy.

"Not found" on a delete is success (the thing is gone, which is what we wanted); the codes
differ per service, so they are listed here once.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, WaiterError

from provisioner.engine.errors import PermanentError, ProvisionerError, TemporaryError

__all__ = ["ClientError", "WaiterError", "error_code", "is_not_found", "as_provisioner_error"]

NOT_FOUND_CODES = frozenset(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidAssociationID.NotFound",
        "NatGatewayNotFound",
        "InvalidNatGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidRoute.NotFound",
        "InvalidNetworkAclID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidFlowLogId.NotFound",
        "InvalidPermission.NotFound",
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NotFoundException",
        "DBInstanceNotFound",
        "RepositoryNotFoundException",
    }
)

# Codes that mean "wait and try again": eventual consistency, something still deleting.
TEMPORARY_CODES = frozenset({"DependencyViolation", "IncorrectState", "InvalidParameterValue.Propagation"})


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    return code is not None and (code in NOT_FOUND_CODES or code.endswith(".NotFound") or code.endswith("NotFoundFault"))


def as_provisioner_error(exc: ClientError, key: str | None = None, hint: str | None = None, temporary: frozenset[str] = TEMPORARY_CODES) -> ProvisionerError:
    code = error_code(exc)
    message = error_message(exc)
    if code in temporary:
        return TemporaryError(message, key=key, code=code, hint=hint, delay=5.0)
    return PermanentError(message, key=key, code=code, hint=hint)


def request_id(response: Any) -> str | None:
    return (response or {}).get("ResponseMetadata", {}).get("RequestId")
