"""Where moto spends CPU on work no caller can see, made cheap. Nothing here changes an answer.

Measured with py-spy on the EKS tests (share of the process's CPU before these):

- Every new EC2 backend (one per account and region, again after each reset) loaded moto's
  "latest AMIs" catalog of its region and made an image, a volume and a snapshot for each:
  ~8%. A backend now holds moto's built-in list only (the 44 images moto answers with
  `MOTO_AMIS_PATH` set, or moto's own list), built when something first reads or changes the
  images of that backend (`_LazyImages`): an account whose region never launches an instance
  or describes an image never builds them. The sandbox launches node and Karpenter instances
  with an image id of its own (moto does not validate image ids); nothing the tool calls
  reads the catalog.
- moto's EKS validates a role ARN's partition by building a new boto3 Session, which parses
  botocore's endpoints.json, on every CreateCluster/CreateNodegroup: ~5%. The partitions
  are read once.
- moto lists a response class's methods with `inspect.getmembers` on every request, to see
  whether the action is one of them: ~5%. A class's methods are fixed once the sandbox's
  patches are in (`build_app` applies them before serving), so the list is made once per class.
- moto lists a service's regions per account backend (its lru_cache keys on the backend):
  once per service here.
"""

from __future__ import annotations

import functools
import threading
from typing import Any


class _LazyImages(dict[str, Any]):
    """A backend's image catalog that loads itself at its first use: every dict method moto
    uses on `AmiBackend.amis` loads it first (once, under a lock, as requests run in threads)."""

    def __init__(self, backend: Any, load: Any) -> None:
        super().__init__()
        self._pending: tuple[Any, Any] | None = (backend, load)
        self._lock = threading.RLock()

    def _ensure(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            if self._pending is not None:
                backend, load = self._pending
                self._pending = None
                load(backend)  # fills backend.amis, which is this dict


def _loading_first(name: str) -> Any:
    method = getattr(dict, name)

    def loaded(self: _LazyImages, *args: Any, **kwargs: Any) -> Any:
        self._ensure()
        return method(self, *args, **kwargs)

    loaded.__name__ = name
    return loaded


# Not `values()`: moto's only reader of it is the Resource Groups Tagging API's listing of the
# backend's tagged resources, and the built-in images carry no tags, so an unloaded catalog
# lists the same (nothing); every read that can tell the difference loads it.
for _method in (
    "__getitem__", "__contains__", "__iter__", "__len__", "__delitem__", "__setitem__",
    "get", "keys", "items", "pop", "copy", "setdefault", "update",
):  # fmt: skip
    setattr(_LazyImages, _method, _loading_first(_method))


@functools.cache
def _partitions() -> frozenset[str]:
    from boto3 import Session

    return frozenset(Session().get_available_partitions())


@functools.cache
def _regions(service_name: str) -> tuple[str, ...]:
    from moto.core.base_backend import AccountSpecificBackend

    session = AccountSpecificBackend.get_session()
    return tuple(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service_name, partition_name=partition)
    )


def apply_patches() -> None:
    import re

    from moto.core import responses
    from moto.core import utils as core_utils
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.parse import default_timestamp_parser as parse_timestamp
    from moto.ec2.models import amis
    from moto.eks import models as eks_models
    from moto.eks import utils as eks_utils
    from moto.eks.exceptions import InvalidParameterException

    role_arn = re.compile("arn:(?P<partition>.+):iam::(?P<account_id>[0-9]{12}):role/.+")

    def validate_role_arn(arn: str) -> None:  # moto's check, with the partitions read once
        match = role_arn.match(arn or "")
        if not (arn and match and match.group("partition") in _partitions()):
            raise InvalidParameterException(message="Invalid Role Arn: '" + arn + "'")

    eks_utils.validate_role_arn = validate_role_arn
    eks_models.validate_role_arn = validate_role_arn  # imported by name there

    def generate_regions(self: Any, service_name: str) -> list[str]:
        return list(_regions(service_name))

    AccountSpecificBackend._generate_regions = generate_regions  # type: ignore[method-assign,assignment]

    responses.method_names_from_class = functools.cache(core_utils.method_names_from_class)

    def load_built_in(backend: Any) -> None:  # moto's loop over its list, without the region's catalog
        for image in amis.AMIS:
            image["owner_alias"] = "amazon"  # moto: the built-in images are Amazon's
            if isinstance(image.get("creation_date"), str):
                image["creation_date"] = parse_timestamp(image["creation_date"])
            backend.amis[image["ami_id"]] = amis.Ami(backend, **image)

    def load_lazily(self: Any) -> None:
        self.amis = _LazyImages(self, load_built_in)

    amis.AmiBackend._load_amis = load_lazily  # type: ignore[method-assign]
