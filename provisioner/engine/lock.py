"""Run locks: two runs of one plan never overlap (SPEC section 5).

- `LocalLock`: an exclusive `flock` on `<home>/locks/<plan>.lock`. The kernel drops the lock
  when the process dies, so a killed run never leaves a stale local lock; while held, the file
  names its holder, for the message the second run prints.
- `RunLock`: what every lock offers (acquire, release, context manager). The DynamoDB lease
  lock for teams (`provisioner.aws.dynamodb_lock`) implements it outside the engine, which
  knows no boto3.
- `LockChain`: several locks taken in order (local first: it is free and fails fastest) and
  released in reverse, also when a later one cannot be taken or Ctrl-C arrives meanwhile.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from provisioner.engine.errors import LockError


class RunLock(Protocol):
    def acquire(self) -> None: ...
    def release(self) -> None: ...


class LockChain:
    """Takes its locks in order and releases them in reverse; never half-held."""

    def __init__(self, locks: list[RunLock]):
        self.locks = list(locks)
        self._held: list[RunLock] = []
        self._release_lock = threading.Lock()

    def acquire(self) -> None:
        try:
            for lock in self.locks:
                lock.acquire()
                self._held.append(lock)
        except BaseException:  # a LockError, or Ctrl-C while waiting: give back what we took
            self.release()
            raise

    def release(self) -> None:
        # A second Ctrl-C releases from a helper thread while the main thread may be releasing
        # too: each lock is taken off the list under a lock, so it is released exactly once.
        while True:
            with self._release_lock:
                if not self._held:
                    return
                lock = self._held.pop()
            lock.release()

    def __enter__(self) -> LockChain:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class LocalLock:
    def __init__(self, directory: Path, plan: str, operation: str, timeout: float = 0.0):
        self.path = directory / f"{plan}.lock"
        self.plan = plan
        self.operation = operation
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockError(
                            f"plan {self.plan} is locked by another run{_read_holder(fd)}",
                            hint="wait for it to finish, or pass --lock-timeout SECONDS to wait",
                        ) from None
                    time.sleep(0.2)
        except BaseException:  # refused, or Ctrl-C while waiting
            os.close(fd)
            raise
        info = {
            "plan": self.plan,
            "operation": self.operation,
            "pid": os.getpid(),
            "user": getpass.getuser(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LocalLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @staticmethod
    def status(directory: Path, plan: str, clear_stale: bool = False) -> tuple[bool, dict[str, Any]]:
        """(held, holder note) of a plan's local lock, without waiting (`unlock`, `history`).

        A note while nobody holds the lock is left by a run that was killed (SIGKILL, power
        loss) before it could clear it; the kernel already released its flock, so the note
        is only stale text, cleared with `clear_stale`."""
        path = directory / f"{plan}.lock"
        if not path.exists():
            return False, {}
        fd = os.open(path, os.O_RDWR)
        try:
            info = _read_info(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True, info
            if info and clear_stale:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False, info
        finally:
            os.close(fd)


def _read_info(fd: int) -> dict[str, Any]:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _read_holder(fd: int) -> str:
    info = _read_info(fd)
    if not info:
        return ""
    return f" ({info.get('operation')} by {info.get('user')}@{info.get('host')}, pid {info.get('pid')}, since {info.get('since')})"
