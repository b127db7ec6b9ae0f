"""Several plans in one run (issue #17): the plan graph, what a failure stops, the run's
estimate, faults aimed at one plan's account, and locks between runs.

The graph runner is tested with plain callables (fast, no AWS); the estate tests apply the
shipped plans against the session's sandbox server at latency 0, through the CLI in-process.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.operations import run as several
from provisioner.planfile import load_plan
from tests.conftest import PLANS

pytestmark = pytest.mark.starts_first  # its CLI runs mostly wait (tests/conftest.py)

ESTATE = ("organization", "shared", "dev", "staging", "prod")


def _plans(*names: str) -> list[Any]:
    return [load_plan(name, PLANS) for name in names]


# ----------------------------------------------------------------------------- the graph
def test_dependencies_come_from_the_plans_not_the_argument_order() -> None:
    needs = several.dependencies(_plans("prod", "dev", "shared", "staging", "organization"))
    assert needs == {
        "organization": set(),
        "shared": {"organization"},
        "dev": {"organization", "shared"},
        "staging": {"organization", "shared"},
        "prod": {"organization", "shared"},
    }
    # Only plans of the run count: environments alone need nothing from each other.
    assert several.dependencies(_plans("dev", "staging", "prod")) == {"dev": set(), "staging": set(), "prod": set()}
    # destroy: environments first, then shared, then the organization.
    assert several.reverse(needs) == {
        "organization": {"shared", "dev", "staging", "prod"},
        "shared": {"dev", "staging", "prod"},
        "dev": set(),
        "staging": set(),
        "prod": set(),
    }


def test_an_environment_in_a_literal_account_without_shared_grants_needs_nothing(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(PLANS, tmp_path, dirs_exist_ok=True)
    dev = tmp_path / "dev.yaml"
    dev.write_text(dev.read_text().replace("account: development\n", 'account: "123456789012"\n'))
    shared = tmp_path / "shared.yaml"
    shared.write_text(
        shared.read_text().replace(
            "pull_accounts: [development, staging, production]", "pull_accounts: [staging, production]"
        )
    )
    plans = [load_plan(n, tmp_path) for n in ("organization", "shared", "dev", "staging")]
    needs = several.dependencies(plans)
    assert needs["dev"] == set() and needs["staging"] == {"organization", "shared"}


def _graph(names: tuple[str, ...], work: Any, **kwargs: Any) -> list[several.PlanOutcome]:
    plans = _plans(*names)
    return several.PlanGraphRun(plans, work, several.dependencies(plans), **kwargs).run()


def test_independent_plans_run_at_the_same_time_after_what_they_need() -> None:
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    environments = threading.Barrier(3, timeout=10)  # all three must be in flight at once

    def work(plan: Any) -> tuple[int, dict[str, Any]]:
        started[plan.name] = time.monotonic()
        if plan.kind == "environment":
            environments.wait()
        ended[plan.name] = time.monotonic()
        return 0, {"plan": plan.name}

    outcomes = _graph(("prod", "dev", "staging", "shared", "organization"), work)
    assert {o.name: o.status for o in outcomes} == dict.fromkeys(
        ("prod", "dev", "staging", "shared", "organization"), "done"
    )
    assert ended["organization"] <= started["shared"]
    assert all(ended["shared"] <= started[env] for env in ("dev", "staging", "prod"))


def test_a_failure_stops_only_the_plans_that_need_the_failed_one() -> None:
    def work(plan: Any) -> tuple[int, dict[str, Any]]:
        if plan.name == "staging":
            raise RuntimeError("database create refused")
        return 0, {"plan": plan.name}

    outcomes = {o.name: o for o in _graph(ESTATE, work)}
    assert {n: o.status for n, o in outcomes.items()} == {
        "organization": "done",
        "shared": "done",
        "dev": "done",
        "staging": "failed",
        "prod": "done",
    }
    assert "database create refused" in (outcomes["staging"].error or "")

    def shared_fails(plan: Any) -> tuple[int, dict[str, Any]]:
        return (
            (1, {"status": "failed", "steps": [{"key": "ecr/backend", "status": "failed", "error": "boom"}]})
            if plan.name == "shared"
            else (0, {})
        )

    outcomes = {o.name: o for o in _graph(ESTATE, shared_fails)}
    assert outcomes["shared"].status == "failed" and outcomes["shared"].error == "ecr/backend: boom"
    for env in ("dev", "staging", "prod"):
        assert outcomes[env].status == "not started" and outcomes[env].blocked_by == "shared"
        assert outcomes[env].reason() == "not started: shared failed"
    assert outcomes["organization"].status == "done"


def test_a_cancel_starts_nothing_new_and_lets_plans_in_flight_finish() -> None:
    cancel = threading.Event()

    def work(plan: Any) -> tuple[int, dict[str, Any]]:
        if plan.name == "shared":
            cancel.set()  # Ctrl-C while shared runs
            return 130, {"status": "interrupted"}
        return 0, {}

    outcomes = {o.name: o for o in _graph(ESTATE, work, cancel=cancel)}
    assert outcomes["organization"].status == "done" and outcomes["shared"].status == "interrupted"
    assert all(outcomes[env].status == "not started" for env in ("dev", "staging", "prod"))


def test_the_run_estimate_is_the_critical_path_across_plans() -> None:
    needs = several.dependencies(_plans(*ESTATE))
    estimate = several.run_estimate(
        needs, {"organization": 300, "shared": 60, "dev": 900, "staging": 1000, "prod": 1200}
    )
    assert estimate == {
        "seconds": 1560.0,
        "serial_seconds": 3460.0,
        "critical_path": ["organization", "shared", "prod"],
    }
    reverse = several.run_estimate(
        several.reverse(needs), {"organization": 10, "shared": 20, "dev": 400, "staging": 300, "prod": 100}
    )
    assert reverse["critical_path"] == ["dev", "shared", "organization"] and reverse["seconds"] == 430.0


def test_fault_specs_name_accounts_by_the_organization_plans_keys() -> None:
    assert (
        several.resolve_fault_accounts("throttle=0.1,fail=rds:CreateDBInstance@staging,fail=CreateVpc", PLANS)
        == "throttle=0.1,fail=rds:CreateDBInstance@aws-staging@innovate.example.com,fail=CreateVpc"
    )
    # ids, emails and names the organization does not use as keys pass through for the sandbox to judge
    for spec in (
        "fail=CreateVpc@123456789012",
        "fail=CreateVpc@aws-staging@innovate.example.com",
        "fail=CreateVpc@nobody",
    ):
        assert several.resolve_fault_accounts(spec, PLANS) == spec


def test_several_plans_need_names_or_all_not_both(cli: Any) -> None:
    assert cli("apply").code == 1
    both = cli("plan", "dev", "--all")
    assert both.code == 1 and "not both" in both.err


# ---------------------------------------------------------------------------- the estate
def _post_faults(aws: str, spec: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{aws}/_sandbox/faults", data=json.dumps({"spec": spec}).encode(), method="POST")
    with opener.open(request, timeout=10) as response:
        assert response.status == 200


def test_a_failure_in_one_account_stops_only_that_plan_and_a_rerun_converges(cli: Any, aws: str, home: Path) -> None:
    plans = ("--plans-dir", str(PLANS))
    # The database create fails in staging's account only (the plan's account key, resolved
    # the way `sandbox start --faults` / `sandbox faults` do).
    _post_faults(aws, several.resolve_fault_accounts("fail=rds:CreateDBInstance@staging", PLANS))
    try:
        run = cli("apply", "--all", "--yes", "--output", "json", *plans)
    finally:
        _post_faults(aws, "none")
    assert run.code == 1, run.err[-3000:]
    document = json.loads(run.out)
    status = {p["plan"]: p["status"] for p in document["summary"]["plans"]}
    assert status == {"dev": "done", "organization": "done", "prod": "done", "shared": "done", "staging": "failed"}, (
        run.err[-3000:]
    )
    assert "CreateDBInstance" in next(p["error"] for p in document["summary"]["plans"] if p["plan"] == "staging")
    assert [d["plan"] for d in document["plans"]] == ["dev", "organization", "prod", "shared", "staging"]
    assert document["estimate"]["critical_path"][:2] == ["organization", "shared"]

    # The same command again, without the fault, converges; then nothing is left to do.
    again = cli("apply", "dev", "staging", "prod", "--yes", *plans)
    assert again.code == 0, again.err[-3000:]
    assert [
        line.split()[:2] for line in again.out.splitlines() if line.split()[:1] in (["dev"], ["staging"], ["prod"])
    ] == [["dev", "done"], ["staging", "done"], ["prod", "done"]]
    planned = cli("plan", "dev", "staging", "prod", "--detailed-exitcode", *plans)
    assert planned.code == 0, planned.out[-2000:] + planned.err[-2000:]
    assert "Estimated run time" not in planned.out  # nothing to do: no estimate to give

    # Two runs at once never interleave: while another run holds dev's lock, a second
    # `apply dev staging` refuses dev (staging, unlocked, runs)...
    from provisioner.engine.lock import LocalLock

    other = LocalLock(home / "locks", "dev", "apply")
    other.acquire()
    try:
        refused = cli("apply", "dev", "staging", "--yes", *plans)
    finally:
        released_at = time.monotonic()
        other.release()
    assert refused.code == 1
    assert "plan dev is locked by another run" in refused.out and "staging  done" in refused.out
    # ... or, with --lock-timeout, waits for it and then runs.
    other.acquire()
    timer = threading.Timer(1.0, other.release)
    timer.start()
    try:
        waited = cli("apply", "dev", "staging", "--yes", "--lock-timeout", "30", *plans)
    finally:
        timer.join()
    assert waited.code == 0, waited.err[-2000:]
    assert released_at < time.monotonic()


def test_plan_of_the_estate_gives_the_run_estimate_along_its_critical_path(cli: Any) -> None:
    """A fresh account: the organization plan reads what is there; the other plans' accounts
    do not exist yet, so all of each would be created after the organization."""
    planned = cli("plan", "--all", "--detailed-exitcode", "--plans-dir", str(PLANS))
    assert planned.code == 2, planned.out[-2000:] + planned.err[-2000:]
    line = next(line for line in planned.out.splitlines() if line.startswith("Estimated run time"))
    path = line.split("critical path: ")[1].split(" -> ")
    assert path[:2] == ["organization", "shared"] and path[2] in ("dev", "staging", "prod") and len(path) == 3
    as_json = json.loads(
        cli(
            "plan", "organization", "shared", "dev", "staging", "prod", "--output", "json", "--plans-dir", str(PLANS)
        ).out
    )
    estimate = as_json["estimate"]
    each = {d["plan"]: d["estimate"]["seconds"] for d in as_json["plans"]}
    assert estimate["critical_path"] == path
    assert estimate["seconds"] == pytest.approx(
        each["organization"] + each["shared"] + max(each[e] for e in ("dev", "staging", "prod")), abs=0.5
    )
    assert estimate["serial_seconds"] == pytest.approx(sum(each.values()), abs=0.5)
    assert "(serial: " in line and estimate["seconds"] < estimate["serial_seconds"]


# One background sandbox (a subprocess: moto, the sandbox's extensions) for the module's
# subprocess tests, emptied before each, instead of one started and stopped per test. Its
# latency is the one the lock test needs (a cluster ~11 s CREATING); the Ctrl-C test only
# needs clusters pending while the signal arrives, which this latency gives as well.
SUBPROCESS_LATENCY = 0.02


@pytest.fixture(scope="module")
def shared_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.reliability.harness import OFFICIAL_CRDS, Sandbox

    if not OFFICIAL_CRDS.is_dir():
        pytest.skip("Karpenter's official CRDs are not in ../shared")
    sandbox = Sandbox(tmp_path_factory.mktemp("run-sandbox") / "home", latency=SUBPROCESS_LATENCY)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def box(shared_box: Any) -> Any:
    """The module's sandbox as a fresh one: nothing simulated, no faults, no journals or locks
    of earlier tests in its home."""
    import shutil

    # The request `sandbox reset` makes, without a CLI process started for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{shared_box.endpoint}/moto-api/reset", method="POST")
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
    shared_box.set_faults()
    for leftover in ("runs", "locks"):
        shutil.rmtree(shared_box.home / leftover, ignore_errors=True)
    return shared_box


def test_ctrl_c_stops_every_plan_of_the_run_at_once(box: Any) -> None:
    """The first Ctrl-C reaches every plan: the environments running side by side let their
    calls in flight finish and start nothing new, each journal ends `interrupted`, each lock
    is released, and the run exits 130."""
    import signal as signals

    from provisioner.engine.lock import LocalLock
    from tests.reliability.harness import read_events

    sandbox = box
    run = sandbox.popen("apply", "organization", "shared", "dev", "staging", "--sandbox", "--yes")
    try:
        assert run.wait_for_line(
            r"(dev|staging): .*(cluster \w+-eks: CREATING|DB instance \S+: creating)", timeout=240
        ), run.stderr[-3000:]
        assert (
            run.wait_for_line(r"== plan (dev|staging) started")
            and "== plan dev started" in run.stderr
            and "== plan staging started" in run.stderr
        )
        run.signal(signals.SIGINT)
        code = run.wait(timeout=120)
    finally:
        if run.process.poll() is None:
            run.kill()
    assert code == 130, run.stderr[-3000:]
    assert "Traceback" not in run.stderr + run.stdout
    assert "^C interrupted: letting in-flight calls finish" in run.stderr
    for plan in ("dev", "staging"):
        events = read_events(sandbox.journals(plan)[-1])
        assert events[-1]["event"] == "run-end" and events[-1]["status"] == "interrupted", (plan, events[-1])
        assert LocalLock.status(sandbox.home / "locks", plan)[0] is False
    table = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()[-5:] if line.split()}
    assert (
        table.get("organization") == "done"
        and table.get("dev") == "interrupted"
        and table.get("staging") == "interrupted"
    )


class _Terminal(__import__("io").StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_the_run_view_shows_each_plans_phase_progress_and_what_it_waits_for(terminal: bool) -> None:
    import io

    from provisioner.cli.view import RunView

    err = _Terminal() if terminal else io.StringIO()
    plans = _plans("dev", "staging")
    view = RunView(err, plans, verbose=False, start=time.monotonic())
    assert view.live is terminal
    seen: dict[str, list[tuple[str, ...]]] = {}

    def work(plan: Any) -> tuple[int, dict[str, Any]]:
        reporter = view.reporter(plan)
        reporter.planned(3, 600.0, 1.0)  # type: ignore[attr-defined]
        reporter.event("start", "eks/cluster", "creating")
        reporter.event("done", "network/vpc", "created")
        reporter.event("progress", "eks/cluster", f"cluster {plan.name}-eks: CREATING")
        seen[plan.name] = [row for row in view.rows() if row[0] == plan.name]
        return 0, {}

    with view:
        several.PlanGraphRun(plans, work, {}, on_change=view.changed).run()
    _name, phase, nodes, waiting, _elapsed, remaining = seen["dev"][0]
    assert (phase, nodes, waiting) == ("applying", "1/3", "eks/cluster cluster dev-eks: CREATING")
    assert remaining.endswith("s") and remaining.startswith(("9m", "10m"))
    assert [row[1] for row in view.rows()] == ["done", "done"]
    text = err.getvalue()
    if terminal:
        assert "WAITING FOR" in text and "REMAINING" in text  # rich's table, redrawn in place
        assert "dev: .." not in text
    else:
        assert "dev: .. eks/cluster creating" in text and "== plan staging done" in text


def test_two_runs_of_the_same_plans_at_once_never_interleave(box: Any) -> None:
    """`apply dev staging` twice at once: a second run refuses the first's locks (exit 1, the
    plans named locked) or, with --lock-timeout, waits for them and runs after; each plan's
    journaled runs never overlap."""
    from datetime import datetime

    from tests.reliability.harness import read_events

    sandbox = box
    assert sandbox.latency == 0.02  # a cluster ~11 s CREATING: the second run meets the first's locks
    started: list[Any] = []
    try:
        prepared = sandbox.run("apply", "organization", "shared", "--sandbox", "--yes")
        assert prepared.returncode == 0, prepared.stderr[-3000:]
        first = sandbox.popen("apply", "dev", "staging", "--sandbox", "--yes")
        started.append(first)
        # Both plans hold their locks once their clusters are being created (~11 s of pending).
        assert first.wait_for_line(r"dev: .*cluster dev-eks: CREATING", timeout=240), first.stderr[-3000:]
        assert first.wait_for_line(r"staging: .*cluster staging-eks: CREATING", timeout=240), first.stderr[-3000:]
        refused = sandbox.popen("apply", "dev", "staging", "--sandbox", "--yes")
        waiting = sandbox.popen("apply", "dev", "staging", "--sandbox", "--yes", "--lock-timeout", "600")
        started += [refused, waiting]
        assert refused.wait(timeout=300) == 1, refused.stderr[-3000:]
        assert first.process.poll() is None, "the first run ended before the second could meet its locks"
        assert first.wait(timeout=600) == 0, first.stderr[-3000:]
        assert waiting.wait(timeout=600) == 0, waiting.stderr[-3000:]
    finally:
        for run in started:  # the shared sandbox outlives this test: no run of it may linger
            if run.process.poll() is None:
                run.kill()
    assert refused.stdout.count("is locked by another run") == 2, refused.stdout
    for plan in ("dev", "staging"):
        runs = [read_events(path) for path in sandbox.journals(plan)]
        assert len(runs) == 2, plan  # the first run's and the waiting one's; the refused one wrote nothing
        spans = sorted((datetime.fromisoformat(r[0]["time"]), datetime.fromisoformat(r[-1]["time"])) for r in runs)
        assert spans[0][1] <= spans[1][0], (plan, spans)
        assert all(r[-1]["event"] == "run-end" and r[-1]["status"] == "ok" for r in runs), plan


def test_sandbox_faults_takes_a_plan_account_key(box: Any) -> None:
    sandbox = box
    try:
        changed = sandbox.run(
            "sandbox",
            "faults",
            "--faults",
            "fail=rds:CreateDBInstance@staging",
            "--plans-dir",
            str(PLANS),
            "--output",
            "json",
        )
        assert changed.returncode == 0, changed.stderr
        assert sandbox._control("/_sandbox/faults")["fail"] == ["rds:CreateDBInstance@aws-staging@innovate.example.com"]
        off = sandbox.run("sandbox", "faults", "--faults", "none")
        assert off.returncode == 0, off.stderr
        assert sandbox._control("/_sandbox/faults")["fail"] == []
    finally:
        sandbox.set_faults()
