"""Ctrl-C (issue #9): the first interrupt lets in-flight calls finish, records the journal,
releases the lock and exits 130; a second one stops at once; the next apply finishes.

`apply dev --sandbox --yes` runs in a subprocess against a background sandbox with latency
on, so the EKS cluster, the database and the node group sit in their pending states while
SIGINT arrives, exactly as a user's Ctrl-C would (the terminal sends SIGINT to the process).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator

import pytest

from tests.conftest import PLANS, SANDBOX_ACCOUNT
from tests.reliability.harness import OFFICIAL_CRDS, Run, Sandbox, read_events

pytestmark = [
    pytest.mark.skipif(
        not OFFICIAL_CRDS.is_dir(),
        reason="Karpenter's official CRDs are not in ../shared (no internet to fetch them here)",
    ),
    pytest.mark.starts_first,
]

# EKS cluster 570 s -> ~3 s CREATING; an apply of dev takes about 10 s.
LATENCY = 0.005
SLOW_CREATE_PENDING = r"(cluster dev-eks: CREATING|DB instance dev-postgres: creating)"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # dev in the sandbox's own account (as tests/conftest.py's single_account_plans), so each
    # test needs only an emptied sandbox, not the organization applied again.
    plans = tmp_path_factory.mktemp("plans")
    shutil.copytree(PLANS, plans, dirs_exist_ok=True)
    dev = plans / "dev.yaml"
    dev.write_text(dev.read_text().replace("account: development\n", f'account: "{SANDBOX_ACCOUNT}"\n'))
    sandbox = Sandbox(tmp_path_factory.mktemp("interrupt"), LATENCY, plans_dir=plans)
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def sandbox(box: Sandbox) -> Sandbox:
    """The module's sandbox, emptied (the request `sandbox reset` makes, without a CLI
    process started for it)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{box.endpoint}/moto-api/reset", method="POST")
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
    return box


def interrupted_apply(sandbox: Sandbox, pattern: str) -> Run:
    run = sandbox.popen("apply", "dev", "--sandbox", "--yes")
    assert run.wait_for_line(pattern), f"the run ended before /{pattern}/:\n{run.stderr[-3000:]}"
    assert run.process.poll() is None
    return run


def assert_next_apply_finishes(sandbox: Sandbox) -> None:
    # Right after: with the default --lock-timeout 0, a lock still held would fail at once.
    started = time.monotonic()
    again = sandbox.run("apply", "dev", "--sandbox", "--yes")
    assert again.returncode == 0, f"{again.stdout[-3000:]}\n{again.stderr[-3000:]}"
    assert "locked" not in again.stderr
    assert time.monotonic() - started < 120
    plan = sandbox.run("plan", "dev", "--sandbox", "--detailed-exitcode")
    assert plan.returncode == 0, [
        line for line in plan.stdout.splitlines() if line.startswith("  ") and "unchanged" not in line
    ]


def test_first_ctrl_c_lets_calls_in_flight_finish_records_the_journal_releases_the_lock_and_exits_130(sandbox) -> None:
    run = interrupted_apply(sandbox, SLOW_CREATE_PENDING)
    sent = time.monotonic()
    run.signal(signal.SIGINT)
    code = run.wait(timeout=60)
    assert code == 130, run.stderr[-3000:]
    # Nothing new starts and waiters stop at their next poll: no waiting for the cluster.
    assert time.monotonic() - sent < 10
    err = run.stderr
    assert "^C interrupted: letting in-flight calls finish (Ctrl-C again to stop at once)" in err
    assert "interrupted; run the same command again to finish." in err
    assert "Traceback" not in err + run.stdout
    assert "Apply interrupted" in run.stdout

    events = read_events(run.journal())
    assert events[-1]["event"] == "run-end" and events[-1]["status"] == "interrupted"
    nodes = {e["key"]: e["status"] for e in events if e["event"] == "node"}
    # Every node that was running came to an end (done, or stopped at a wait); none is left
    # "running", and nodes that never started are recorded as interrupted.
    assert "running" not in nodes.values()
    assert "done" in nodes.values() and "interrupted" in nodes.values()
    slow = {
        e["key"] for e in events if e["event"] == "api-call" and e["operation"] in ("CreateCluster", "CreateDBInstance")
    }
    assert slow

    # The next apply adopts what the interrupted one made (the cluster is not created again)
    # and finishes the work.
    plan = sandbox.run("plan", "dev", "--sandbox")
    assert plan.returncode == 0
    created = [line.split()[1] for line in plan.stdout.splitlines() if line.endswith("would create")]
    assert not slow & set(created), created
    assert_next_apply_finishes(sandbox)


def test_second_ctrl_c_stops_at_once_without_a_traceback(sandbox) -> None:
    run = interrupted_apply(sandbox, SLOW_CREATE_PENDING)
    # Every call is throttled from now on: the calls in flight sit in botocore's retry
    # backoff (seconds, and not interruptible), so the first Ctrl-C's wind-down is slow and
    # the second one lands while it runs, as when AWS is slow to answer.
    sandbox.set_faults(throttle=1.0)
    try:
        run.signal(signal.SIGINT)
        assert run.wait_for_line(r"\^C interrupted")
        assert run.process.poll() is None, "the first Ctrl-C's wind-down ended before the second could land"
        sent = time.monotonic()
        run.signal(signal.SIGINT)
        code = run.wait(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        sandbox.set_faults()
    assert code == 130
    assert elapsed < 3
    err = run.stderr
    assert "^C stopping at once" in err and "run the same command again to finish" in err
    assert "Traceback" not in err + run.stdout
    events = read_events(run.journal())
    assert (
        events[-1]["event"] == "run-end" and events[-1]["status"] == "interrupted" and events[-1].get("forced") is True
    )
    assert_next_apply_finishes(sandbox)


def test_ctrl_c_before_any_change_exits_130_and_says_so(sandbox) -> None:
    # While the run reads and plans, nothing has been written: the interrupt ends it at once.
    run = sandbox.popen("apply", "dev", "--sandbox", "--yes")
    deadline = time.monotonic() + 60
    while "Plan dev (environment)" not in run.stdout and run.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    assert "Traceback" not in run.stderr + run.stdout
    assert "interrupted; run the same command again to finish." in run.stderr
    events = read_events(run.journal())
    assert events[-1]["event"] == "run-end" and events[-1]["status"] == "interrupted"
