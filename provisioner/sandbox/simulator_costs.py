"""CPU moto spends on work AWS's answers never show, made cheaper. Never a latency: the
simulated times (`--latency`) are the extensions' and unchanged; what goes is the
simulator's own cost, which a latency-scaled benchmark would otherwise count against the
tool (on 2 cores every such millisecond delays the other requests too).

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
- EC2 ids: each of an account's ~1,400 public AMIs per region gets a volume and a snapshot,
  and each id was drawn one hex digit at a time (`random.choice`): two thirds of the
  0.3-1 s a new account's EC2 backend takes. One `getrandbits` per id gives the same 16
  digits, equally likely, from moto's own seeded random (`/moto-api/seed` still repeats them).
- KMS: moto makes an RSA-2048 key pair for every key, symmetric ones included
  (50-550 ms of CPU each on this machine), although only Sign, Verify and GetPublicKey of
  an asymmetric key use it. A symmetric key's pair is made if and when something asks for
  it, so CreateKey, the first step of an environment's critical path, answers at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_applied = False
_lock = threading.Lock()
# Key specs whose key material is not a key pair (KMS's symmetric and HMAC keys).
NOT_A_KEY_PAIR = ("SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _lookups_without_the_lock()
        _list_moto_modules_once()
        _ec2_ids_at_once()
        _key_pairs_on_demand()
        _applied = True


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
