"""Snapshots of an in-process sandbox's whole simulated AWS, taken and restored in memory.

A test suite starts many tests from the same applied plan (the organization, five accounts
with their baseline: ~300 calls and ~2 s of CPU to build). `take()` copies what the sandbox
holds once it is built; `restore()` puts an independent copy of it back into an empty
sandbox in a few milliseconds. What a test then changes never reaches the snapshot.

What the sandbox holds, and so what a snapshot copies:

- moto's backends: every `BackendDict` moto has built since the last reset, account by
  account and region by region, with the maps a subclass keeps beside them (S3's bucket
  owners, Organizations' management accounts).
- the extensions' own state (`_extension_state`): account creations in flight, transit
  gateways, RDS replication records, EKS add-ons / access entries / node sync queue.

One `copy.deepcopy` over all of it keeps every reference between them (a backend's objects
pointing at each other, an extension's record at moto's) pointing into the same copy; the
`BackendDict`s themselves are moto's module globals and are filled, not copied. State moto
keeps outside its models is either moved onto them (each subnet's next free address:
`moto_costs`) or rebuilt on restore (EC2's class-level references to its backends).

An EKS cluster's Kubernetes API is a running server (threads, a socket); a snapshot keeps
what it holds (`kube_emulator.cluster_copies`), and a restore starts a server for it again
with the same CA on the same port (what was applied to the cluster names its endpoint);
`ClusterPortTaken` if another server has taken the port since. A restore into a sandbox that is
not empty is refused too: it would silently drop what is there.

Used in-process only (the test harness's `SandboxServer`); a `--sandbox` server in its own
process has no caller for it.
"""

from __future__ import annotations

import copy
import copyreg
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner.sandbox.kube_emulator import ClusterCopy


# moto's models may keep locks (moto adds them as it needs them). A copy of one
# is a new lock, unheld: a snapshot is taken and restored while no request is in flight.
# (copyreg is how `copy` learns to copy a type; it also lets pickle write a lock as a new one.)
def _new_lock(lock: Any) -> tuple[Any, tuple[()]]:
    return threading.Lock, ()


def _new_rlock(lock: Any) -> tuple[Any, tuple[()]]:
    return threading.RLock, ()


copyreg.pickle(type(threading.Lock()), _new_lock)
copyreg.pickle(type(threading.RLock()), _new_rlock)


class SnapshotError(RuntimeError):
    """The sandbox's state cannot be copied (or restored) as it stands."""


class ClusterPortTaken(SnapshotError):
    """A cluster API cannot come back on its port: another server has taken it since."""


def _new_condition(condition: Any) -> tuple[Any, tuple[()]]:
    # An SQS queue's Condition, which long polls wait on: a copy is a new one of its own (a
    # copy of its parts would share the original's lock), and no one waits at a snapshot.
    return threading.Condition, ()


def _refused(held: Any) -> Any:
    # An Event is set by one thread for others: none is in the state today; should one
    # appear, the snapshot says so rather than copy it half-shared.
    raise SnapshotError(f"the sandbox's state holds a {type(held).__name__}, which cannot be copied")


copyreg.pickle(threading.Condition, _new_condition)
copyreg.pickle(threading.Event, _refused)


@dataclass(frozen=True)
class Snapshot:
    """A private copy of the sandbox's state; `restore` copies it again, so it serves many times."""

    backends: dict[Any, dict[str, Any]]  # BackendDict -> {account: AccountSpecificBackend}
    backend_maps: dict[Any, dict[str, dict[Any, Any]]]  # BackendDict -> {attribute: its map}
    extensions: list[Any]  # the containers of `_extension_state()`, in its order
    clusters: list[ClusterCopy]  # one per running cluster API


def _registry() -> list[Any]:
    """moto's list of the BackendDicts built since its last reset (each service's backends)."""
    # moto and the extensions are imported where used, as in the rest of the sandbox: importing
    # this module costs nothing until a snapshot is taken.
    from moto.core.base_backend import BackendDict

    # moto annotates this class-level list as a generic instance variable, which mypy refuses.
    return BackendDict._instances  # type: ignore[misc]


def _maps_beside(backend_dict: Any) -> dict[str, dict[Any, Any]]:
    """The maps a BackendDict subclass keeps as attributes (S3's `bucket_accounts`,
    Organizations' `master_accounts`)."""
    return {name: value for name, value in vars(backend_dict).items() if isinstance(value, dict)}


def _extension_state() -> list[Any]:
    """Every mutable container the sandbox's extensions keep outside moto's backends: each
    extension's `state()`, what its `reset()` clears; restore fills them in place."""
    from provisioner.sandbox.eks import models as eks
    from provisioner.sandbox.organizations import models as organizations
    from provisioner.sandbox.rds import models as rds
    from provisioner.sandbox.transit import models as transit

    return [*organizations.state(), *transit.state(), *rds.state(), *eks.state()]


def is_empty() -> bool:
    """Nothing simulated yet: no moto backend built, no extension state, no cluster API."""
    from provisioner.sandbox import kube_emulator

    return not _registry() and not any(_extension_state()) and not kube_emulator.cluster_copies()


def take() -> Snapshot:
    """A copy of everything the sandbox holds now. Call it while no request is in flight."""
    from provisioner.sandbox import kube_emulator

    dicts = list(_registry())
    original = Snapshot(
        backends={d: dict(dict.items(d)) for d in dicts},
        backend_maps={d: _maps_beside(d) for d in dicts},
        extensions=_extension_state(),
        clusters=kube_emulator.cluster_copies(),
    )
    return _copied(original, dicts)


def restore(snapshot: Snapshot) -> None:
    """Make an empty sandbox hold a fresh copy of `snapshot`. After `ClusterPortTaken` the
    sandbox holds all of it but its clusters: reset it."""
    if not is_empty():
        raise SnapshotError("restore needs an empty sandbox (reset it first)")
    from moto.core.base_backend import backend_lock

    from provisioner.sandbox import kube_emulator

    copied = _copied(snapshot, list(snapshot.backends))
    with backend_lock:
        for backend_dict, accounts in copied.backends.items():
            dict.update(backend_dict, accounts)
            for name, values in copied.backend_maps[backend_dict].items():
                mapping = getattr(backend_dict, name)
                mapping.clear()
                mapping.update(values)
            if backend_dict not in _registry():
                _registry().append(backend_dict)
    _register_copied_ec2_backends(copied)
    for container, values in zip(_extension_state(), copied.extensions, strict=True):
        if isinstance(container, list):
            container[:] = values
        else:
            container.clear()
            container.update(values)
    try:
        kube_emulator.bring_back(copied.clusters)
    except OSError as exc:
        kube_emulator.reset()
        raise ClusterPortTaken(f"a cluster API's port is taken: {exc}") from exc


def _register_copied_ec2_backends(copied: Snapshot) -> None:
    """moto's EC2 backends add a weak reference to themselves to class-level sets when built
    (`__init__`), which peering across accounts and regions searches for the peer's backend;
    copies are not built, so they are added here."""
    import weakref

    from moto.ec2.models.transit_gateway_attachments import TransitGatewayAttachmentBackend
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnectionBackend

    for backend_dict, accounts in copied.backends.items():
        if backend_dict.service_name != "ec2":
            continue
        for regions in accounts.values():
            for backend in dict.values(regions):
                TransitGatewayAttachmentBackend.backend_refs[type(backend)].add(weakref.ref(backend))
                VPCPeeringConnectionBackend.vpc_pcx_refs[type(backend)].add(weakref.ref(backend))


def _copied(snapshot: Snapshot, backend_dicts: list[Any]) -> Snapshot:
    # The BackendDicts are keys and stay themselves (moto's module globals); all else is copied.
    memo: dict[int, Any] = {id(d): d for d in backend_dicts}
    return copy.deepcopy(snapshot, memo)
