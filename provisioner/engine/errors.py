"""The error taxonomy every layer speaks (after kopf's).

- `TemporaryError`: worth retrying after `delay` seconds (IAM propagation, a dependency that
  is still deleting). The runner retries the node within its own budget.
- `PermanentError`: the node failed; everything that depends on it is skipped, independent
  branches finish.
- `OwnershipError`: a resource we would touch is not ours (no ownership tags, or another
  plan's). Never retried; destroy and apply refuse to modify it.
- `LockError`: another run holds this plan's lock.
- `Interrupted`: the user pressed Ctrl-C; in-flight work was allowed to finish.

Every error carries what the CLI needs to say what to do next: the node key, the AWS error
code and message where there was one, and a hint.
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base of all errors the CLI reports without a traceback."""

    def __init__(self, message: str, *, key: str | None = None, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.code = code
        self.hint = hint

    def describe(self) -> str:
        parts = []
        if self.key:
            parts.append(f"{self.key}:")
        if self.code:
            parts.append(f"{self.code}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.hint:
            text += f"\n  next: {self.hint}"
        return text


class TemporaryError(ProvisionerError):
    def __init__(self, message: str, *, delay: float = 5.0, **kwargs: object):
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.delay = delay


class PermanentError(ProvisionerError):
    pass


class OwnershipError(PermanentError):
    pass


class LockError(ProvisionerError):
    pass


class Interrupted(ProvisionerError):
    pass


class ProtectedPlanError(ProvisionerError):
    pass
