"""EKS's error responses: the exception the handlers raise and the messages EKS gives."""

from __future__ import annotations

from typing import Any, ClassVar


class EksError(Exception):
    """An EKS error response: HTTP status, the code botocore reports, EKS's JSON body."""

    STATUS: ClassVar[dict[str, int]] = {
        "InvalidParameterException": 400,
        "InvalidRequestException": 400,
        "BadRequestException": 400,
        "ResourceNotFoundException": 404,
        "NotFoundException": 404,
        "ResourceInUseException": 409,
        "ServerException": 500,
    }

    def __init__(
        self,
        code: str,
        message: str,
        *,
        cluster: str | None = None,
        nodegroup: str | None = None,
        addon: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = self.STATUS[code]
        self.message = message
        self.fields = {"clusterName": cluster, "nodegroupName": nodegroup, "addonName": addon}

    def body(self) -> dict[str, Any]:
        if self.code in ("NotFoundException", "BadRequestException"):
            return {"message": self.message}
        # EKS sends every member of the exception shape, null where it does not apply.
        body: dict[str, Any] = dict(self.fields)
        if self.code != "ResourceInUseException":
            body.setdefault("fargateProfileName", None)
            body["subscriptionId"] = None
        body["message"] = self.message
        return body


def invalid(message: str, **fields: str | None) -> EksError:
    return EksError("InvalidParameterException", message, **fields)


def cluster_not_found(name: str) -> EksError:
    return EksError("ResourceNotFoundException", f"No cluster found for name: {name}.", cluster=name)


def nodegroup_not_found(cluster: str, name: str) -> EksError:
    return EksError(
        "ResourceNotFoundException", f"No node group found for name: {name}.", cluster=cluster, nodegroup=name
    )


def addon_not_found(cluster: str, name: str) -> EksError:
    return EksError(
        "ResourceNotFoundException", f"No addon: {name} found in cluster: {cluster}", cluster=cluster, addon=name
    )


def entry_not_found(cluster: str) -> EksError:
    return EksError(
        "ResourceNotFoundException",
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
        cluster=cluster,
    )


def require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise invalid(f"{name} is required")
