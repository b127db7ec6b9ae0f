"""One plan's plan, apply or destroy, without argparse: what `provisioner plan|apply|destroy`
does between reading the plan file and printing the result.

`PlanRun` owns the order of things and what must hold before any call:

1. `check()`: a protected plan's rules (SPEC sections 9 and 11) and the step graph's own
   checks (SCP documents, ...); nothing is sent to AWS yet.
2. `with run:` takes the plan's locks (not for `plan`, which only reads: reviews and CI plans
   never wait for an apply, or make one wait), opens the journal, builds the sessions and
   the runner. On the way out the journal is closed (`interrupted` or `error` when the run did
   not end itself) and the locks are released.
3. `plan()` computes the ChangeSet and its estimate, the same for `plan` and `apply` (plan
   and apply share one code path).
4. `allow_replacements()` (apply of a protected plan) and the caller's confirmation.
5. `execute()` applies or destroys, records each node in the journal and closes it.

The caller brings what needs a person or a process: the session factory (credentials, the
sandbox), `ask` (a name typed back; None without a terminal), `notify` (warnings), the
progress reporter, and the Ctrl-C handling around `execute()` (`cancel`, `journal`, `lock`
are there for it). The CLI renders the ChangeSet and the result (provisioner/cli/).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from provisioner import paths
from provisioner.engine import Change, ChangeSet, Interrupted, ProtectedPlanError, RunContext, Runner, RunResult
from provisioner.engine.context import NullReporter, Reporter
from provisioner.engine.journal import Journal
from provisioner.engine.lock import LockChain
from provisioner.operations.locking import plan_lock
from provisioner.planfile import Plan
from provisioner.steps import build

if TYPE_CHECKING:
    from provisioner.aws import AwsSession

# The management session for a plan: the caller's credentials (or the sandbox's), journaled.
SessionFactory = Callable[[Plan, "Journal | None"], "AwsSession"]


@dataclass(frozen=True)
class RunOptions:
    """What `plan`, `apply` and `destroy` accept besides the plan (their command-line options)."""

    operation: str  # "plan", "apply" or "destroy"
    destroy: bool = False  # with `plan`: show what destroy would do
    region: str | None = None  # overrides the plan's region
    workers: int | None = None
    apply_immediately: bool = False  # disruptive database changes now, not in the maintenance window
    allow_protected: bool = False  # destroy a protected plan
    allow_replace: tuple[str, ...] = ()  # guarded changes a protected plan may make
    confirm: str | None = None  # the plan name typed back, for CI
    lock_timeout: float = 0.0
    sandbox: bool = False  # only said: in the journal and where the run goes

    @property
    def destroying(self) -> bool:
        return self.operation == "destroy" or (self.operation == "plan" and self.destroy)


@dataclass
class Planned:
    """What `plan()` found: the ChangeSet and its estimated time."""

    changeset: ChangeSet
    estimate: dict[str, Any]


def _nobody(prompt: str) -> str | None:
    return None


class PlanRun:
    """One plan's plan, apply or destroy (see the module docstring for the order of calls)."""

    def __init__(
        self,
        plan: Plan,
        options: RunOptions,
        session: SessionFactory,
        *,
        reporter: Reporter | None = None,
        ask: Callable[[str], str | None] = _nobody,
        notify: Callable[[str], None] = lambda message: None,
        interrupted: Callable[[], bool] | None = None,
    ):
        self.plan = plan
        self.options = options
        self.make_session = session
        self.reporter: Reporter = reporter if reporter is not None else NullReporter()
        self.ask = ask
        self.notify = notify
        # Whether a run that ends with an exception was interrupted (the caller's Ctrl-C
        # handler knows best); by default, when it was cancelled or a KeyboardInterrupt ends it.
        self.interrupted = interrupted
        self.cancel = threading.Event()
        self.lock: LockChain | None = None
        self.journal: Journal | None = None
        self.session: AwsSession | None = None
        self.runner: Runner | None = None
        self.management: AwsSession | None = None

    # ------------------------------------------------------------------ before any call
    def check(self) -> None:
        """A protected plan's rules, and the steps' own checks, before any call."""
        plan, options = self.plan, self.options
        if options.operation == "destroy" and plan.protected:
            if not options.allow_protected:
                raise ProtectedPlanError(
                    f"plan {plan.name} is protected; destroy refuses",
                    hint=f"pass --allow-protected and type the plan name back (or --confirm {plan.name} in CI)",
                )
            typed = (
                options.confirm
                if options.confirm is not None
                else self.ask(f"Type the plan name ({plan.name}) to destroy it: ")
            )
            if typed != plan.name:
                raise ProtectedPlanError(
                    f"plan {plan.name} is protected and its name was not typed back", hint=f"--confirm {plan.name}"
                )
        if options.operation == "apply" and plan.protected:
            # SPEC section 9: a protected plan may not weaken the baseline (validation refuses the
            # configurable part already; this keeps apply on the same rule table as `check`).
            from provisioner.planfile.baseline import failures, plan_findings

            failing = failures(plan_findings(plan))
            if failing:
                raise ProtectedPlanError(
                    f"plan {plan.name} is protected and fails the security baseline: "
                    + "; ".join(f"{f.control} {f.resource}: {f.detail}" for f in failing),
                    hint=f"fix the plan (see `provisioner check {plan.name} --plan-only`); nothing was sent to AWS",
                )
        # Building the graph checks what only the steps know (SCP documents, ...) before any call.
        build(plan, options.region or getattr(plan.spec, "region", None))

    # ------------------------------------------------------------- locks, journal, runner
    def __enter__(self) -> PlanRun:
        from provisioner.aws.accounts import organization_account_ids, session_for_plan

        plan, options = self.plan, self.options
        if options.operation != "plan":
            self.lock = plan_lock(
                plan,
                options.operation,
                session=lambda: self.make_session(plan, None),
                timeout=options.lock_timeout,
                notify=self.notify,
                cancel=self.cancel,
            )
            self.lock.acquire()
        try:
            if options.operation != "plan":
                self.journal = Journal(paths.subdir("runs"), plan.name, options.operation)
            self.management = self.make_session(plan, self.journal)
            self.session = session = session_for_plan(self.management, plan)
            account_ids = organization_account_ids(self.management, plan)
            ctx = RunContext(
                plan=plan,
                aws=session,
                reporter=self.reporter,
                journal=self.journal,
                cancel=self.cancel,
                allow_protected=(options.operation == "destroy" and plan.protected),
                apply_immediately=options.apply_immediately,
            )
            nodes = build(plan, session.region, account_ids)
            self.runner = Runner(ctx, nodes, **({"workers": options.workers} if options.workers else {}))
            if self.journal:
                self.journal.record(
                    "target",
                    account=session.account_id,
                    region=session.region,
                    sandbox=options.sandbox,
                    caller=_caller(self.management),
                )
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.journal:
                if self.interrupted is not None:
                    interrupted = self.interrupted()
                else:
                    interrupted = self.cancel.is_set() or isinstance(exc, (KeyboardInterrupt, Interrupted))
                self.journal.close("interrupted" if interrupted else "error")
                self.journal = None
        finally:
            if self.lock:
                self.lock.release()

    @property
    def where(self) -> str:
        """Where the run goes: `account 123456789012, region eu-west-1` (and ` (sandbox)`)."""
        session = self._session()
        return f"account {session.account_id}, region {session.region}" + (" (sandbox)" if self.options.sandbox else "")

    # ---------------------------------------------------------------------------- the run
    def plan_changes(self) -> Planned:
        """The ChangeSet (what apply or destroy would do) and its estimated time."""
        runner = self._runner()
        destroy = self.options.destroying
        changeset = runner.plan(destroy=destroy)
        return Planned(changeset, runner.estimate(changeset, destroy=destroy))

    def refused(self) -> list[Change]:
        """The guarded changes (replace or delete a cluster, a database, ...) in the last plan."""
        return list(self._runner().refused())

    def allow_replacements(self) -> None:
        """SPEC section 11: a protected plan replaces or deletes a guarded resource (cluster,
        database, VPC, subnet with network interfaces, KMS key) only when the change is named in
        `allow_replace` and the plan name is typed back (`confirm` in CI), as a protected
        destroy. Runs after the plan and before any change."""
        plan, options = self.plan, self.options
        allowed = set(options.allow_replace)
        guarded = self.refused()
        unused = sorted(allowed - {c.key for c in guarded})
        if unused:
            self.notify(
                f"warning: --allow-replace {', '.join(unused)}: no guarded replacement or deletion has that key in "
                f"plan {plan.name}"
            )
        if not plan.protected or not guarded:
            return
        refused = [c for c in guarded if c.key not in allowed]
        if refused:
            lines = "; ".join(
                f"{c.action.value} {c.key} ({c.type}{', ' + c.reason if c.reason else ''}): {c.guard}"
                + (f"; depends on it: {', '.join(c.dependents)}" if c.dependents else "")
                for c in refused
            )
            flags = " ".join(f"--allow-replace {c.key}" for c in refused)
            raise ProtectedPlanError(
                f"plan {plan.name} is protected; apply refuses to {lines}",
                hint=f"nothing was changed; to go ahead, name each change: {flags} --confirm {plan.name}",
            )
        names = ", ".join(c.key for c in guarded)
        typed = (
            options.confirm
            if options.confirm is not None
            else self.ask(f"Type the plan name ({plan.name}) to replace or delete {names}: ")
        )
        if typed != plan.name:
            raise ProtectedPlanError(
                f"plan {plan.name} is protected and its name was not typed back to allow {names}",
                hint=f"--confirm {plan.name}; nothing was changed",
            )

    def execute(self) -> RunResult:
        """Apply or destroy what the plan found (with nothing to change, this settles pending
        resources), record each node in the journal and close it."""
        runner = self._runner()
        result = runner.apply() if self.options.operation == "apply" else runner.destroy()
        if self.journal:
            for node in result.results.values():
                self.journal.record("node", **node.as_dict())
            self.journal.close(result.status, duration=result.duration)
            self.journal = None
        return result

    def _runner(self) -> Runner:
        if self.runner is None:
            raise RuntimeError("PlanRun: use it in a `with` block")
        return self.runner

    def _session(self) -> AwsSession:
        if self.session is None:
            raise RuntimeError("PlanRun: use it in a `with` block")
        return self.session


def _caller(session: Any) -> str | None:
    """Who runs this (the STS caller ARN, session name included), for the journal."""
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except Exception:
        return None
