"""The sandbox: a local simulated AWS that `--sandbox` commands target (SPEC section 6).

Design. The simulator (moto in server mode, `provisioner.sandbox.server`) runs as one
background process on 127.0.0.1 so that its state outlives each CLI command: the first
command that needs it starts it, later commands reuse it, and `sandbox stop` ends it.

This module is the manager the CLI uses. It imports only the standard library (no moto, no
flask), so commands that never touch the sandbox pay nothing for it. Its state lives in
`<PROVISIONER_HOME>/sandbox/`:

- `sandbox.json`: written atomically by the server once it listens:
  `{"pid", "aws_endpoint_url", "started_at", "port", "latency", "faults"}`. The server
  removes it on a clean stop.
- `server.log`: the server's stdout/stderr, appended across runs; its tail goes into errors.
- `start.lock`: an flock held while starting or stopping, so two commands racing to start
  the sandbox end up sharing one server.

"Running" means the recorded pid is a live sandbox server AND it answers HTTP. A state file
whose process is gone (crash, reboot) is stale: it is removed and reported as not running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from provisioner import paths

# Credentials moto accepts; any value works, these are moto's documented defaults.
SANDBOX_ACCESS_KEY_ID = "testing"
SANDBOX_SECRET_ACCESS_KEY = "testing"
# moto's default account: resources made with the credentials above land here.
SANDBOX_ACCOUNT_ID = "123456789012"

STATE_FILE = "sandbox.json"
LOG_FILE = "server.log"
LOCK_FILE = "start.lock"
SERVER_MODULE = "provisioner.sandbox.server"

# Poll scale of an instant sandbox; the waiters floor each delay at 20 ms anyway.
MIN_POLL_SCALE = 0.01

_PING_TIMEOUT = 1.0
_POLL_INTERVAL = 0.1
_STOP_TIMEOUT = 10.0

# Servers this process started. A child that exits stays a zombie until reaped, and
# os.kill(pid, 0) succeeds on zombies; Popen.poll() reaps it and tells the truth. (A CLI
# process that exits while its server runs is the design; under `python -X dev` Popen
# reports that as a ResourceWarning.)
_children: dict[int, subprocess.Popen] = {}


class SandboxError(Exception):
    """The sandbox could not be started, reached or stopped."""


# What the simulator imports beyond the tool's own dependencies: moto in server mode (Flask,
# werkzeug) and cryptography for the Kubernetes emulators' TLS. They come with the optional
# extra, so a production install carries no simulator.
SIMULATOR_MODULES = ("moto", "flask", "werkzeug", "cryptography")
INSTALL_HINT = "pip install 'provisioner[sandbox]' (from a checkout: pip install -e '.[sandbox]')"


def require_simulator() -> None:
    """Raise a SandboxError saying how to install the sandbox when its extra is missing."""
    import importlib.util

    missing = [name for name in SIMULATOR_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SandboxError(
            f"the sandbox is an optional extra and is not installed (missing: {', '.join(missing)}); "
            f"install it with {INSTALL_HINT}"
        )


def sandbox_dir() -> Path:
    return paths.subdir("sandbox")


def state_path() -> Path:
    return sandbox_dir() / STATE_FILE


def log_path() -> Path:
    return sandbox_dir() / LOG_FILE


def status() -> dict[str, Any]:
    """`{"running", "aws_endpoint_url", "pid", "started_at"}`; cleans up a stale state file.

    A live server that does not answer within ~1 s (busy, or still starting) is reported
    with its pid and url but `running: False`, and its state file is kept.
    """
    state = _read_state()
    if state is not None and not _is_sandbox_process(state.get("pid")):
        _discard_stale(state)
        state = None
    if state is None:
        return {"running": False, "aws_endpoint_url": None, "pid": None, "started_at": None}
    url = state.get("aws_endpoint_url")
    return _status_from(state, running=bool(url) and _answers(str(url)))


def _status_from(state: dict[str, Any], running: bool) -> dict[str, Any]:
    return {
        "running": running,
        "aws_endpoint_url": state.get("aws_endpoint_url"),
        "pid": state.get("pid"),
        "started_at": state.get("started_at"),
        "latency": state.get("latency", 0.0),
        "faults": state.get("faults") or "none",
    }


def start(wait_seconds: float = 60, latency: float | None = None, faults: str | None = None) -> dict[str, Any]:
    """Start the background server unless it runs; return `status()` once it answers.

    `latency` (SPEC section 6) scales latency-model.md's p50 times; `faults` is a fault spec
    (`throttle=0.05,error=0.01,fail=Operation`, see `sandbox/faults.py`). Both are fixed for
    the server's life (the server's `POST /_sandbox/faults` aside), so asking for other
    settings while one runs is an error; None means "whatever it runs with".
    """
    require_simulator()
    wanted_faults = None
    if faults is not None:
        from provisioner.sandbox.faults import FaultSpec, FaultSpecError

        try:
            wanted_faults = str(FaultSpec.parse(faults))
        except FaultSpecError as exc:
            raise SandboxError(str(exc)) from None
    current = status()
    if current["running"]:
        _check_settings(current, latency, wanted_faults)
        return current
    with _lock():
        # Another process may have started it while this one waited for the lock.
        current = status()
        if current["running"]:
            _check_settings(current, latency, wanted_faults)
            return current
        deadline = time.monotonic() + wait_seconds
        if current["pid"] is not None:
            # Alive but not answering yet: give it the same time a fresh start would get
            # rather than starting a second server beside it.
            return _status_from(_wait_until_ready(current["pid"], deadline, child=None), True)
        child = _spawn(latency or 0.0, wanted_faults or "none")
        try:
            return _status_from(_wait_until_ready(child.pid, deadline, child=child), True)
        except BaseException:
            _terminate(child)
            raise


def _check_settings(current: dict[str, Any], latency: float | None, faults: str | None) -> None:
    if latency is not None and float(current.get("latency") or 0.0) != float(latency):
        raise SandboxError(
            f"the sandbox runs with latency {current.get('latency')}; `sandbox stop` first to start it with another"
        )
    if faults is not None and (current.get("faults") or "none") != faults:
        raise SandboxError(
            f"the sandbox runs with faults {current.get('faults') or 'none'}; "
            "`sandbox stop` first to start it with others"
        )


def poll_scale(state: dict[str, Any]) -> float:
    """How much faster than on real AWS waiters should poll this sandbox: its latency scale
    (simulated work takes p50 x scale, so polls shrink alike), capped at 1. An instant
    sandbox (latency 0) makes everything final at once, so it gets the smallest scale."""
    latency = float(state.get("latency") or 0.0)
    return min(1.0, latency) if latency > 0 else MIN_POLL_SCALE


def ensure_running() -> str:
    """Start the sandbox if needed; return its AWS endpoint url."""
    return start()["aws_endpoint_url"]


def stop() -> bool:
    """Stop the background server; return whether one was running."""
    with _lock():
        state = _read_state()
        pid = state.get("pid") if state else None
        if not _is_sandbox_process(pid):
            _remove_state()
            return False
        assert isinstance(pid, int)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, _STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, _STOP_TIMEOUT)
        # The server removes it on a clean stop; not after SIGKILL.
        _remove_state()
        return True


def reset() -> None:
    """Forget every simulated resource, keeping the server running."""
    current = status()
    if not current["running"]:
        raise SandboxError("the sandbox is not running")
    try:
        _http(f"{current['aws_endpoint_url']}/moto-api/reset", method="POST", timeout=30)
    except OSError as exc:
        raise SandboxError(f"sandbox reset failed: {exc}") from exc


def set_faults(spec: str) -> dict[str, Any]:
    """Change the running sandbox's faults (`POST /_sandbox/faults`; "none" turns them off);
    returns the settings the server now uses. Account keys are the CLI's to resolve."""
    current = status()
    if not current["running"]:
        raise SandboxError("the sandbox is not running")
    from provisioner.sandbox.faults import FaultSpec, FaultSpecError

    try:
        FaultSpec.parse(spec)
    except FaultSpecError as exc:
        raise SandboxError(f"--faults: {exc}") from None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        f"{current['aws_endpoint_url']}/_sandbox/faults",
        method="POST",
        data=json.dumps({"spec": spec}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with opener.open(request, timeout=10) as response:
            return dict(json.loads(response.read()))
    except OSError as exc:
        raise SandboxError(f"setting the sandbox's faults failed: {exc}") from exc


# --- internals ---------------------------------------------------------------------------


def _read_state() -> dict[str, Any] | None:
    """The state file's content; None if there is none, {} if it is corrupt (the server
    writes it atomically, so corrupt means damaged, and it is treated as stale)."""
    try:
        state = json.loads(state_path().read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _remove_state() -> None:
    state_path().unlink(missing_ok=True)


def _discard_stale(state: dict[str, Any]) -> None:
    """Remove a stale state file, unless a start or stop holds the lock: that one may be
    about to replace the file, and will clear a stale one itself."""
    with _lock(blocking=False) as acquired:
        if acquired and _read_state() == state:
            _remove_state()


def _pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _is_sandbox_process(pid: object) -> bool:
    """A live process that is a sandbox server. After a reboot the recorded pid may belong
    to an unrelated process: check its command line where /proc allows, so that `stop()`
    never signals a stranger."""
    if not isinstance(pid, int) or pid <= 0 or not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return SERVER_MODULE.encode() in cmdline


def _http(url: str, method: str = "GET", timeout: float = _PING_TIMEOUT) -> bytes:
    # No proxies: the server is on loopback, and HTTP(S)_PROXY would otherwise apply.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)
    with opener.open(request, timeout=timeout) as response:
        return response.read()


def _answers(url: str) -> bool:
    try:
        return "requests" in json.loads(_http(f"{url}/_sandbox/stats"))
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _lock(blocking: bool = True) -> Iterator[bool]:
    """Hold `start.lock`; yields whether it was acquired (always True when blocking).
    flock locks belong to the open file, so a second, non-blocking attempt from a process
    that already holds the lock fails rather than deadlocks."""
    with open(sandbox_dir() / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server_command(state_file: Path, latency: float = 0.0, faults: str = "none") -> list[str]:
    return [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--state-file",
        str(state_file),
        "--latency",
        str(latency),
        "--faults",
        faults,
    ]


def _server_env() -> dict[str, str]:
    env = os.environ.copy()
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    # The server must not follow the user's real AWS setup anywhere.
    for name in list(env):
        if name == "AWS_PROFILE" or name.startswith("AWS_ENDPOINT_URL"):
            del env[name]
    # Run the same provisioner code as this process, whatever the child's cwd.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def _spawn(latency: float = 0.0, faults: str = "none") -> subprocess.Popen:
    _remove_state()  # any leftover is stale (checked by the caller)
    directory = sandbox_dir()
    with open(log_path(), "ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        log.write(f"--- sandbox start {stamp} ---\n".encode())
        log.flush()
        child = subprocess.Popen(
            _server_command(state_path(), latency, faults),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            cwd=directory,  # not the user's directory, which they may delete
            start_new_session=True,  # outlives this command and its terminal's signals
        )
    _children[child.pid] = child
    return child


def _wait_until_ready(pid: int, deadline: float, child: subprocess.Popen | None) -> dict[str, Any]:
    """Poll until server `pid` has written its state file and answers; return the state."""
    while True:
        if child is not None and child.poll() is not None:
            raise SandboxError(f"sandbox server exited with code {child.returncode}\n{_log_tail()}")
        if child is None and not _is_sandbox_process(pid):
            raise SandboxError(f"sandbox server (pid {pid}) exited\n{_log_tail()}")
        state = _read_state()
        if state and state.get("pid") == pid and _answers(str(state.get("aws_endpoint_url"))):
            return state
        if time.monotonic() >= deadline:
            raise SandboxError(f"sandbox server (pid {pid}) did not answer in time; see {log_path()}\n{_log_tail()}")
        time.sleep(_POLL_INTERVAL)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    # Not just _pid_alive: an exited server that nobody reaps (an orphan under a PID 1
    # that does not wait) stays a zombie, which os.kill(pid, 0) still finds.
    while _is_sandbox_process(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    _children.pop(child.pid, None)
    _remove_state()


def _log_tail(max_lines: int = 30) -> str:
    try:
        lines = log_path().read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "server log (last lines):\n" + "\n".join(lines[-max_lines:])
