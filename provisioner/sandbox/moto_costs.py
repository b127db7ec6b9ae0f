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
- IAM: every request with an access key moto does not know makes it look in each account's
  IAM backend for every partition, creating them, and each built AWS's ~1,600 managed
  policies from 5 MB of JSON (~0.2-0.5 s), again after every reset. Other partitions'
  backends start without them (the sandbox works in `aws` only); in `aws` they are parsed
  once per process, and an account's backend gets its copies (same name, ARN, PolicyId and
  versions, as in AWS; its own attachment count and tags) when something first reads its
  policies (`_LoadsOnFirstUse`): an account the run never asks IAM about never copies them.
- moto lists a service's regions per account backend (its lru_cache keys on the backend):
  once per service here.
- Backends: moto takes its one global backend lock on every `backends[account]` lookup,
  which every request makes, although the lock is only needed to build a backend that is
  not there yet. While any backend is being built (an account's EC2: 0.1-1 s), every
  request of every account waited. A lookup of a backend that exists now takes no lock;
  building one still does, as moto does it.
- Dispatch: moto's server finds the backend of every request under one lock shared by all
  requests, and first looks for it in `list_of_moto_modules()`, which lists moto's package
  directory and stats each of its ~175 entries: 1.5-4 ms of CPU per request (most of what a
  simple call costs), one request at a time. The directory does not change while the server
  runs, so it is listed once; which backend answers stays moto's choice.
- EC2 ids: each image a backend loads gets a volume and a snapshot, and each id was drawn
  one hex digit at a time (`random.choice`): with the region's catalog (~1,400 images), two
  thirds of the 0.3-1 s a new account's EC2 backend took. One `getrandbits` per id gives the same 16
  digits, equally likely, from moto's own seeded random (`/moto-api/seed` still repeats them).
- Subnets: moto keeps each subnet's iterator of free addresses in a `functools.cache` keyed
  by the subnet, so every subnet ever made (and, through it, its whole EC2 backend) stays in
  memory after every reset, for full garbage collections to traverse; and a copy of a subnet
  (sandbox/snapshot.py) would start handing out addresses again at .1, which AWS reserves.
  The next address's index is kept on the subnet instead; the addresses are the same.
- KMS: moto makes an RSA-2048 key pair for every key, symmetric ones included
  (50-550 ms of CPU each on this machine), although only Sign, Verify and GetPublicKey of
  an asymmetric key use it. A symmetric key's pair is made if and when something asks for
  it, so CreateKey, the first step of an environment's critical path, answers at once.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any


class _LoadsOnFirstUse(dict[str, Any]):
    """A dict of moto's that fills itself at its first use: every dict method moto uses on it
    loads it first (once, under a lock, as requests run in threads). `load(owner)` fills it
    through the owner (the backend whose attribute it is)."""

    def __init__(self, owner: Any, load: Callable[[Any], None]) -> None:
        super().__init__()
        self._pending: tuple[Any, Callable[[Any], None]] | None = (owner, load)
        self._lock = threading.RLock()

    def _ensure(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            if self._pending is not None:
                owner, load = self._pending
                self._pending = None
                load(owner)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A copy for a sandbox snapshot (sandbox/snapshot.py): still lazy if this one is, its
        owner the copy of this one's owner; else a copy of what it holds."""
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied._lock = threading.RLock()
        with self._lock:
            pending = self._pending
            if pending is not None:
                owner, load = pending
                copied._pending = (copy.deepcopy(owner, memo), load)
                return copied
            copied._pending = None
            held = copy.deepcopy(self._held(), memo)
        copied._fill(held)
        return copied

    def _held(self) -> Any:
        return dict(dict.items(self))

    def _fill(self, held: Any) -> None:
        dict.update(self, held)


class _LazyImages(_LoadsOnFirstUse):
    """`AmiBackend.amis`. Not loaded by `values()`: moto's only reader of it is the Resource
    Groups Tagging API's listing of the backend's tagged resources, and the built-in images
    carry no tags, so an unloaded catalog lists the same (nothing); every read that can tell
    the difference loads it."""

    values = dict.values


class _LazyList(list[Any]):
    """`IAMBackend.aws_managed_policies`: a list that fills itself at its first use."""

    def __init__(self, owner: Any, load: Callable[[Any], None]) -> None:
        super().__init__()
        self._pending: tuple[Any, Callable[[Any], None]] | None = (owner, load)
        self._lock = threading.RLock()

    _ensure = _LoadsOnFirstUse._ensure
    __deepcopy__ = _LoadsOnFirstUse.__deepcopy__

    def _held(self) -> Any:
        return list(list.__iter__(self))

    def _fill(self, held: Any) -> None:
        list.extend(self, held)


def _loading_first(cls: type, name: str) -> Any:
    method = getattr(cls.__mro__[-2], name)  # dict's or list's own

    def loaded(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._ensure()
        return method(self, *args, **kwargs)

    loaded.__name__ = name
    return loaded


for _method in (
    "__getitem__", "__contains__", "__iter__", "__len__", "__delitem__", "__setitem__", "__eq__",
    "get", "keys", "values", "items", "pop", "popitem", "copy", "setdefault", "update",
):  # fmt: skip
    setattr(_LoadsOnFirstUse, _method, _loading_first(_LoadsOnFirstUse, _method))
for _method in (
    "__getitem__", "__contains__", "__iter__", "__len__", "__add__", "__eq__", "__reversed__",
    "copy", "index", "count", "append", "extend", "remove", "pop", "__setitem__", "__delitem__",
):  # fmt: skip
    setattr(_LazyList, _method, _loading_first(_LazyList, _method))


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


# Key specs whose key material is not a key pair (KMS's symmetric and HMAC keys).
NOT_A_KEY_PAIR = ("SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")


def _lookups_without_the_lock() -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict._create_account_specific_backend

    def create_account_specific_backend(self: Any, account_id: str) -> None:
        # Entries are added only once built (under the lock), so one that is there is whole.
        if account_id in dict.keys(self):
            return
        original(self, account_id)

    BackendDict._create_account_specific_backend = create_account_specific_backend  # type: ignore[method-assign]


def _list_moto_modules_once() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules


def _ec2_ids_at_once() -> None:
    from moto.ec2 import utils
    from moto.moto_api._internal import mock_random

    def random_resource_id(size: int = 8) -> str:
        return f"{mock_random.getrandbits(4 * size):0{size}x}"

    utils.random_resource_id = random_resource_id


class KeyPairOnDemand:
    """Stands for moto's key pair of a symmetric key; made on first use."""

    def __init__(self, key_spec: str, make: Callable[[str], Any]) -> None:
        self._key_spec = key_spec
        self._make = make
        self._pair: Any = None
        self._pair_lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._pair is not None

    def __deepcopy__(self, memo: dict[int, Any]) -> KeyPairOnDemand:
        """A copy for a sandbox snapshot: the key material, if made, is the same (it never
        changes); `__getattr__` would otherwise be asked for attributes the copy lacks."""
        copied = KeyPairOnDemand(self._key_spec, self._make)
        memo[id(self)] = copied
        copied._pair = self._pair
        return copied

    def __getattr__(self, name: str) -> Any:
        with self._pair_lock:
            if self._pair is None:
                self._pair = self._make(self._key_spec)
        return getattr(self._pair, name)


def _key_pairs_on_demand() -> None:
    from moto.kms import models

    original = models.generate_private_key

    def generate_private_key(key_spec: str) -> Any:
        if key_spec in NOT_A_KEY_PAIR:
            return KeyPairOnDemand(key_spec, original)
        return original(key_spec)

    models.generate_private_key = generate_private_key


_applied = False
_apply_lock = threading.Lock()


def apply_patches() -> None:
    """Idempotent: every server the process builds calls it; the patches go in once."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        _applied = True
        _apply()


def _apply() -> None:
    _iam_managed_policies_on_demand()
    _lookups_without_the_lock()
    _list_moto_modules_once()
    _ec2_ids_at_once()
    _key_pairs_on_demand()
    _skip_work_no_answer_shows()
    _subnet_addresses_on_the_subnet()


def _subnet_addresses_on_the_subnet() -> None:
    from moto.ec2.models.subnets import Subnet

    def base_avail_ip_iterator(self: Any) -> Any:
        # The hosts of the CIDR in order, as `network.hosts()` gives them (IPv4: without the
        # network and broadcast addresses), from the index the subnet has reached.
        network = self.cidr
        end = network.num_addresses - 1 if network.version == 4 else network.num_addresses
        while True:
            index = self.__dict__.get("_next_host_index", 1)
            if index >= end:
                return
            self._next_host_index = index + 1
            yield network[index]

    # moto declares it a functools.cache wrapper; a plain method replaces it.
    Subnet._base_avail_ip_iterator = base_avail_ip_iterator  # type: ignore[method-assign,assignment]


def _skip_work_no_answer_shows() -> None:
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


def _iam_managed_policies_on_demand() -> None:
    from moto.iam.models import IAMBackend

    original = IAMBackend._init_aws_policies
    built: dict[str, list[Any]] = {}  # partition -> policies never handed to a backend
    built_lock = threading.Lock()

    def copies(backend: Any) -> list[Any]:
        with built_lock:
            if backend.region_name not in built:
                built[backend.region_name] = original(backend)
        return [_copy_policy(policy, backend.account_id) for policy in built[backend.region_name]]

    def init_aws_policies(self: Any) -> Any:
        if self.region_name not in ("aws", "global"):
            return []
        return _LazyList(self, lambda backend: list.extend(backend.aws_managed_policies, copies(backend)))

    def init_managed_policies(self: Any) -> Any:
        def load(backend: Any) -> None:
            dict.update(backend.managed_policies, {p.arn: p for p in backend.aws_managed_policies})

        return _LoadsOnFirstUse(self, load)

    IAMBackend._init_aws_policies = init_aws_policies  # type: ignore[method-assign]
    IAMBackend._init_managed_policies = init_managed_policies  # type: ignore[method-assign]


def _copy_policy(policy: Any, account_id: str) -> Any:
    """A copy of an AWS-managed policy for another account's backend. Its versions are shared:
    an AWS-managed policy's versions are AWS's (no account can add, delete or choose one)."""
    copied = object.__new__(type(policy))
    copied.__dict__.update(policy.__dict__, account_id=account_id, attachment_count=0, tags={})
    return copied
