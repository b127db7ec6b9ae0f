"""The engine: changes, resource nodes, the graph runner, locks, journal and errors.

It knows nothing of boto3 or kubernetes; steps bring the kinds, aws/ brings the clients.
"""

from provisioner.engine.change import Action, Change, ChangeSet, Pending, field_changes, tags_changed
from provisioner.engine.context import RunContext
from provisioner.engine.errors import (
    Interrupted,
    LockError,
    OwnershipError,
    PermanentError,
    ProtectedPlanError,
    ProvisionerError,
    TemporaryError,
)
from provisioner.engine.execution import RunResult
from provisioner.engine.resource import Live, Refs, Resource
from provisioner.engine.runner import Runner

__all__ = [
    "Action",
    "Change",
    "ChangeSet",
    "Interrupted",
    "Live",
    "LockError",
    "OwnershipError",
    "Pending",
    "PermanentError",
    "ProtectedPlanError",
    "ProvisionerError",
    "Refs",
    "Resource",
    "RunContext",
    "RunResult",
    "Runner",
    "TemporaryError",
    "field_changes",
    "tags_changed",
]
