"""The local run lock: two runs of one plan on this machine never overlap (SPEC section 5).

An exclusive `flock` on `<home>/locks/<plan>.lock`. The kernel drops the lock when the
process dies, so a killed run never leaves a stale local lock; the file keeps who held it
last, for the message the second run prints. (The DynamoDB lock for teams builds on the same
interface.)
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from provisioner.engine.errors import LockError


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
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockError(
                        f"plan {self.plan} is locked by another run{holder}",
                        hint="wait for it to finish, or pass --lock-timeout SECONDS to wait",
                    ) from None
                time.sleep(0.2)
        info = {
            "plan": self.plan,
            "operation": self.operation,
            "pid": os.getpid(),
            "user": getpass.getuser(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return ""
    if not info:
        return ""
    return f" ({info.get('operation')} by {info.get('user')}@{info.get('host')}, pid {info.get('pid')}, since {info.get('since')})"
