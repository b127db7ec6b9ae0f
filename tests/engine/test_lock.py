"""LocalLock: one run per plan on this machine, and a message naming who holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.engine import LockError
from provisioner.engine.lock import LocalLock

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from pathlib import Path
from provisioner.engine.lock import LocalLock

lock = LocalLock(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[str, str], subprocess.Popen[str]]]:
    """Start another process that holds a plan's lock until its stdin gets a line."""
    procs: list[subprocess.Popen[str]] = []

    def start(plan: str, operation: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp_path), plan, operation],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_acquire_lock_held_by_other_process_names_holder(
    tmp_path: Path, holder: Callable[[str, str], subprocess.Popen[str]]
) -> None:
    proc = holder("dev", "apply")
    with pytest.raises(LockError) as info:
        LocalLock(tmp_path, "dev", "destroy").acquire()
    message = str(info.value)
    assert message.startswith("plan dev is locked by another run (apply by ")
    assert f"pid {proc.pid}," in message
    assert info.value.hint is not None and "--lock-timeout" in info.value.hint


def test_acquire_lock_after_other_process_releases(
    tmp_path: Path, holder: Callable[[str, str], subprocess.Popen[str]]
) -> None:
    proc = holder("dev", "apply")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    with LocalLock(tmp_path, "dev", "destroy"):
        pass


def test_acquire_lock_after_holder_process_killed(
    tmp_path: Path, holder: Callable[[str, str], subprocess.Popen[str]]
) -> None:
    proc = holder("dev", "apply")
    proc.kill()
    proc.wait(timeout=10)
    # The kernel dropped the flock with the process: no stale lock.
    with LocalLock(tmp_path, "dev", "apply"):
        pass


def test_acquire_lock_second_object_same_process_raises(tmp_path: Path) -> None:
    # flock belongs to the open file description: two LocalLocks in one process conflict too.
    held = rf"\(apply by .*pid {os.getpid()}, since "
    with LocalLock(tmp_path, "dev", "apply"), pytest.raises(LockError, match=held):
        LocalLock(tmp_path, "dev", "apply").acquire()


def test_acquire_lock_after_release_succeeds(tmp_path: Path) -> None:
    first = LocalLock(tmp_path, "dev", "apply")
    first.acquire()
    first.release()
    second = LocalLock(tmp_path, "dev", "destroy")
    second.acquire()
    try:
        with pytest.raises(LockError, match=r"\(destroy by "):
            LocalLock(tmp_path, "dev", "apply").acquire()
    finally:
        second.release()


def test_acquire_lock_different_plans_independent(
    tmp_path: Path, holder: Callable[[str, str], subprocess.Popen[str]]
) -> None:
    holder("dev", "apply")
    with LocalLock(tmp_path, "staging", "apply"), LocalLock(tmp_path, "prod", "apply"):
        pass


def test_acquire_lock_waits_within_timeout(tmp_path: Path) -> None:
    first = LocalLock(tmp_path, "dev", "apply")
    first.acquire()
    timer = threading.Timer(0.3, first.release)
    timer.start()
    try:
        with LocalLock(tmp_path, "dev", "destroy", timeout=10):
            pass
    finally:
        timer.join()


def test_release_lock_clears_holder_record(tmp_path: Path) -> None:
    lock = LocalLock(tmp_path, "dev", "apply")
    with lock:
        assert '"operation": "apply"' in lock.path.read_text()
    assert lock.path.read_text() == ""
    lock.release()  # a second release is harmless


def test_lock_chain_gives_back_earlier_locks_when_a_later_one_refuses(tmp_path: Path) -> None:
    from provisioner.engine.lock import LockChain

    class Refusing:
        def acquire(self) -> None:
            raise LockError("held elsewhere")

        def release(self) -> None:
            raise AssertionError("never acquired, never released")

    chain = LockChain([LocalLock(tmp_path, "dev", "apply"), Refusing()])
    with pytest.raises(LockError, match="held elsewhere"):
        chain.acquire()
    assert LocalLock.status(tmp_path, "dev") == (False, {})


def test_local_lock_status_names_live_holder_and_clears_stale_note(tmp_path: Path) -> None:
    with LocalLock(tmp_path, "dev", "apply"):
        held, info = LocalLock.status(tmp_path, "dev", clear_stale=True)
        assert held and info["operation"] == "apply" and info["pid"] == os.getpid()
    (tmp_path / "dev.lock").write_text('{"operation": "destroy", "pid": 1}')  # left by a killed run
    assert LocalLock.status(tmp_path, "dev") == (False, {"operation": "destroy", "pid": 1})
    assert LocalLock.status(tmp_path, "dev", clear_stale=True)[0] is False
    assert (tmp_path / "dev.lock").read_text() == ""
    assert LocalLock.status(tmp_path, "nothing") == (False, {})
